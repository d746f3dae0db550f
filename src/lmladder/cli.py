"""The `lmladder` command: sample from or score text with any checkpoint, tabulate runs and compare tables.

lmladder sample outputs/transformer/seed0/model.safetensors --num-samples 5 --temperature 0.8
lmladder evaluate outputs/mlp/seed0/model.safetensors --text held_out.txt
lmladder report outputs/multirun/2026-11-22/05-07-32          # -> that folder's report/ (CSV, Markdown, PNG)
lmladder report outputs                                       # the DVC pipeline's outputs/<rung>/seed<N>
lmladder compare outputs/multirun/A outputs/multirun/B        # two sweeps, row by row
lmladder compare HEAD:                                        # last commit's outputs/reports vs the workspace
lmladder compare my-exp: other-exp:                           # two DVC experiments (names from `dvc exp show`)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .errors import LmladderError
from .reports.compare import METRICS


class CliError(LmladderError, ValueError):
    """Bad command-line input; the message names the option and the fix."""


def _load(path: str):
    from .training.checkpoints import load_training_checkpoint

    return load_training_checkpoint(path)


def _check_sample_options(a: argparse.Namespace) -> None:
    # checked here, in the words of the command line, before the checkpoint is even opened
    if a.num_samples < 1:
        raise CliError(f"--num-samples {a.num_samples} must be >= 1")
    if a.max_new_tokens < 0:
        raise CliError(f"--max-new-tokens {a.max_new_tokens} must be >= 0")
    if not a.temperature >= 0:
        raise CliError(f"--temperature {a.temperature} must be >= 0 (0 = greedy, 1 = the model's own distribution)")
    if a.top_k is not None and a.top_k < 1:
        raise CliError(f"--top-k {a.top_k} must be >= 1; leave it out to sample from every token")
    if a.top_p is not None and not 0 < a.top_p <= 1:
        raise CliError(f"--top-p {a.top_p} must be in (0, 1]; leave it out to keep the whole distribution")


def _vocab_hint(tok) -> str:
    chars = "".join(c for c in getattr(tok, "itos", []) if c.isprintable())
    return f" (it knows {chars[:40]!r}{'...' if len(chars) > 40 else ''})" if chars else ""


def _unknown_char(tok, text: str, what: str, fix: str) -> CliError | None:
    hit = tok.first_unknown(text) if hasattr(tok, "first_unknown") else None
    if hit is None:
        return None
    i, c = hit
    col = i - text.rfind("\n", 0, i)  # 1-based
    where = f"line {text.count(chr(10), 0, i) + 1}, column {col}" if "\n" in text else f"position {i}"
    return CliError(
        f"{what} has the character {c!r} (U+{ord(c):04X}) at {where}, which is not in the checkpoint's "
        f"{tok.vocab_size}-symbol vocabulary{_vocab_hint(tok)}; {fix}"
    )


def cmd_sample(a: argparse.Namespace) -> int:
    from .training.sampling import generate

    _check_sample_options(a)
    temperature = 0.0 if a.greedy else a.temperature
    ck = _load(a.checkpoint)
    tok, boundary = ck.tokenizer, ck.tokenizer.boundary_id
    if err := _unknown_char(tok, a.prompt, "--prompt", "remove it from the prompt, or use a checkpoint trained on it"):
        raise err
    _warn_unknown_words(tok, a.prompt, "--prompt")
    ids = tok.encode(a.prompt) if a.prompt else np.zeros(0, dtype=np.int64)
    if boundary is not None:  # lines corpus: a document starts after the boundary token
        ids = np.concatenate([[boundary], ids]).astype(np.int64)
    elif ids.size == 0:
        nl = tok.encode("\n") if _encodable(tok, "\n") else np.zeros(1, dtype=np.int64)
        ids = nl[:1]
    prompt = np.repeat(ids[None], a.num_samples, axis=0)
    rows = generate(
        ck.model,
        prompt,
        a.max_new_tokens,
        rng=np.random.default_rng(a.seed),
        temperature=temperature,
        top_k=a.top_k,
        top_p=a.top_p,
        stop_id=boundary,
        use_cache=not a.no_cache,
    )
    for r in rows:
        text = (a.prompt or "") + _continuation(tok, ids, r[r != boundary] if boundary is not None else r)
        print(text if boundary is not None else text + "\n" + "-" * 40)
    return 0


def _continuation(tok, prompt_ids: np.ndarray, new_ids: np.ndarray) -> str:
    """The text `new_ids` add after the prompt: decoded after the prompt's last token, so a word tokenizer puts
    the space between them (for characters, bytes and BPE this is just decode(new_ids))."""
    last = prompt_ids[-1:]
    return tok.decode(np.concatenate([last, new_ids]).astype(np.int64))[len(tok.decode(last)) :]


def _warn_unknown_words(tok, text: str, what: str) -> None:
    """A word vocabulary maps words it lacks to <unk>: say so (on stderr), but go on."""
    words = tok.unknown_words(text) if hasattr(tok, "unknown_words") else []
    if words:
        n = tok.count_unknown(text)
        shown = ", ".join(map(repr, words)) + (", ..." if n > len(words) else "")
        print(
            f"lmladder: warning: {what} has {n} word(s) outside the vocabulary ({shown}); they read as <unk>",
            file=sys.stderr,
        )


def _encodable(tok, text: str) -> bool:
    try:
        tok.encode(text)
        return True
    except ValueError:
        return False


def _read_text(path: str, byte_level: bool) -> str | bytes:
    p = Path(path)
    if not p.exists():
        raise CliError(f"--text {path}: no such file; give the path of a text file to score")
    if p.is_dir():
        raise CliError(f"--text {path} is a directory; give the path of a text file to score")
    try:
        data = p.read_bytes()
    except OSError as e:
        raise CliError(f"--text {path}: cannot read it ({e.strerror or e}); check its permissions") from None
    if not data.strip():
        raise CliError(f"--text {path} is empty; give a file with text to score")
    if byte_level:
        return data
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise CliError(
            f"--text {path} is not valid UTF-8 (byte {data[e.start]:#04x} at offset {e.start}); re-save it as "
            "UTF-8 (this checkpoint's character vocabulary reads UTF-8 text)"
        ) from None


def _documents(path: str, text) -> list:
    """The documents of a names-style checkpoint's text: one per line, none blank."""
    from .data.sources import split_lines

    lines, blank = split_lines(text)
    if blank is not None:
        raise CliError(
            f"--text {path}: line {blank + 1} is blank, but this checkpoint models one document per line "
            f"(e.g. one name); remove the blank lines (e.g. grep -v '^$' {path} > clean.txt)"
        )
    return lines


def cmd_evaluate(a: argparse.Namespace) -> int:
    from .data.prepared import text_sizes
    from .training.evaluate import score_tokens

    if a.batch_size < 1:
        raise CliError(f"--batch-size {a.batch_size} must be >= 1")
    ck = _load(a.checkpoint)
    tok = ck.tokenizer
    byte_level = tok.to_dict().get("type") == "byte"
    text = _read_text(a.text, byte_level)
    lines = tok.boundary_id is not None
    if lines:
        nl = b"\n" if byte_level else "\n"
        text = nl.join(_documents(a.text, text))
    fix = "score it with a checkpoint trained on similar text (or one with tokenizer=byte)"
    if not byte_level and (err := _unknown_char(tok, text, f"--text {a.text}", fix)):
        raise err
    _warn_unknown_words(tok, text, f"--text {a.text}")
    if lines:
        text = nl + text + nl  # a lines split is [B, doc1, B, doc2, ..., B]
    ids = tok.encode(text)
    if len(ids) < 2:
        raise CliError(f"--text {a.text} holds {len(ids)} token; it needs at least 2 to score a prediction")
    n_chars, n_bytes = text_sizes(tok, text, ids)
    scores = score_tokens(
        ck.model,
        ids,
        kind="lines" if lines else "stream",
        boundary_id=tok.boundary_id,
        n_chars=n_chars,
        n_bytes=n_bytes,
        batch_size=a.batch_size,
    )
    print(
        json.dumps({"checkpoint": a.checkpoint, "text": a.text, "model": ck.meta["model"]["kind"], **scores}, indent=2)
    )
    return 0


def cmd_report(a: argparse.Namespace) -> int:
    """Turn a Hydra sweep folder (outputs/multirun/<date>/<time>) or the DVC pipeline's outputs/ into one table per
    setting (CSV, Markdown, also printed, and a PNG) and a timing table. Failed jobs are listed, not counted."""
    from .reports import collect, write_report

    runs = collect(a.dir)
    out = Path(a.out) if a.out else Path(a.dir) / "report"
    t = runs.table
    notes = ["Fixed overrides: " + ", ".join(f"`{k}={v}`" for k, v in runs.fixed.items())] if runs.fixed else []
    notes.append(
        f"{len(t)} jobs, {int((t['status'] == 'ok').sum())} finished; n counts finished seeds; mean ± std over seeds; "
        "best (lowest val NLL) first."
    )
    write_report(runs, out, title=a.title or f"Perplexity by setting: {a.dir}", notes=notes)
    print((out / "perplexity.md").read_text())
    print((out / "timing.md").read_text())
    print(f"[report] {out}/perplexity.{{csv,md,png}}, runs.csv, metrics.json, timing.{{csv,md}}", file=sys.stderr)
    if bad := int((t["status"] != "ok").sum()):
        print(f"lmladder report: {bad} of {len(t)} jobs failed or are incomplete (listed above)", file=sys.stderr)
    return 1 if bad and a.strict else 0


def cmd_compare(a: argparse.Namespace) -> int:
    """Each side is a report folder or CSV (lmladder report, or outputs/reports from `dvc repro`), a sweep folder,
    or REV:PATH read from a git revision or DVC experiment (`REV:` alone = REV:outputs/reports/perplexity.csv).
    Δ = B − A; |Δ| ≤ max(std A, std B) is 'within noise'."""
    from .io import atomic_write_text
    from .reports.compare import compare, load, markdown

    metrics = a.metric or ["val_nll"]
    ta, tb = load(a.a, repo=a.repo), load(a.b, repo=a.repo)
    table, by = compare(ta, tb, metrics)
    md = markdown(table, by, ta, tb, metrics)
    print(md)
    if table[f"{metrics[0]}_verdict"].str.startswith("only in").all():
        print(
            f"lmladder compare: no setting is in both tables (A by {ta.by}, B by {tb.by}); "
            "compare tables of the same kind (two sweeps of one grid, or two pipeline reports)",
            file=sys.stderr,
        )
    if a.out:
        atomic_write_text(Path(a.out) / "compare.csv", table.to_csv(index=False))
        atomic_write_text(Path(a.out) / "compare.md", md)
        print(f"[compare] {a.out}/compare.{{csv,md}}", file=sys.stderr)
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="lmladder", description="Sample from, score and compare lmladder models.")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("sample", help="generate text from a checkpoint")
    s.add_argument("checkpoint")
    s.add_argument("--prompt", default="", help="text to continue (cropped on the left to the model's context)")
    s.add_argument("--num-samples", type=int, default=5)
    s.add_argument("--max-new-tokens", type=int, default=200)
    s.add_argument("--temperature", type=float, default=1.0, help="0 = greedy")
    s.add_argument("--top-k", type=int, default=None)
    s.add_argument("--top-p", type=float, default=None)
    s.add_argument("--greedy", action="store_true", help="always take the most likely token")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--no-cache", action="store_true", help="decode without the KV cache (GPT)")
    s.set_defaults(func=cmd_sample)

    e = sub.add_parser("evaluate", help="score a text file: NLL, perplexity, bits per char (JSON)")
    e.add_argument("checkpoint")
    e.add_argument("--text", required=True, help="UTF-8 text file (one document per line for names models)")
    e.add_argument("--batch-size", type=int, default=32)
    e.set_defaults(func=cmd_evaluate)

    what = "one table (mean ± std over seeds) from a sweep folder or the pipeline's outputs/"
    r = sub.add_parser("report", help=what, description=cmd_report.__doc__)
    r.add_argument("dir", help="sweep folder, a folder of sweeps, or outputs/ (DVC layout outputs/<rung>/seed<N>)")
    r.add_argument("--out", help="where to write the report (default: DIR/report)")
    r.add_argument("--title", help="Markdown title (default: names DIR)")
    r.add_argument("--strict", action="store_true", help="exit 1 when any job failed or is incomplete (for CI)")
    r.set_defaults(func=cmd_report)

    what = "two reports row by row, with deltas judged against the seed spread"
    c = sub.add_parser("compare", help=what, description=cmd_compare.__doc__)
    c.add_argument("a", help="the baseline: folder, CSV, or REV:PATH (e.g. HEAD:, main:outputs/reports, my-exp:)")
    c.add_argument("b", nargs="?", default="outputs/reports", help="the candidate (default: outputs/reports)")
    c.add_argument("--metric", action="append", choices=METRICS, help="score to compare (repeatable; default val_nll)")
    c.add_argument("--repo", default=".", help="the git/DVC repository REV:PATH is read from (default: .)")
    c.add_argument("--out", help="also write compare.csv and compare.md into this folder")
    c.set_defaults(func=cmd_compare)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except LmladderError as e:
        if os.environ.get("LMLADDER_DEBUG"):
            raise
        print(f"lmladder {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
