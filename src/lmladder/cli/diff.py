"""`lmladder diff A B` (where on a text B beats A), and the loss-by-position curve of `lmladder inspect`.

A and B are run folders (outputs/<rung>/seed<N>, a Hydra job folder) or checkpoint files. The text is a split of
prepared data (by default A's own, `paths.prepared` of its config, read from the current folder) or `--text FILE`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from ..io import check_output_folder, checkpoint_path, output_folder, path_kind
from .common import CliError, check_scoring, encode_text_file, unknown_char

CORPUS_KEYS = ("name", "source", "path", "url", "sha256", "babynames", "kind", "fractions", "split_seed")


def _prepared(ck, data: str | None):
    """(prepared data, its path) for `ck`: `data`, else the run's own, found as its training stage found it
    (paths.prepared, or the cache beside it; relative paths from the current folder), or (None, where it looked)."""
    from ..data.config import DataConfig, from_stored
    from ..data.prepared import load_prepared
    from ..data.store import find_prepared

    if data is None:
        where = (ck.meta.get("config") or {}).get("paths", {}).get("prepared") or "data/prepared"
        try:
            found = find_prepared(
                DataConfig(**from_stored(ck.meta["data"])), prepared_dir=where, cache_root=Path(where).parent / "cache"
            )
        except (KeyError, TypeError, AttributeError):  # a checkpoint that records no data config
            found = None
        return found or (None, where)
    if path_kind(Path(data) / "vocab.json") != "file":  # a corpus folder, a typo
        raise CliError(f"--data {data} holds no prepared data (no vocab.json); give the run's data/prepared folder")
    prepared = load_prepared(data)
    if prepared.tokenizer.to_dict() != ck.tokenizer.to_dict():
        raise CliError(f"--data {data} has another vocabulary than the checkpoint; give the data it was trained on")
    return prepared, data


def run_positions(ck, data: str | None):
    """The checkpoint's loss against position on the val split of its prepared data, or why there is none."""
    from ..inference.positions import position_curve

    prepared, path = _prepared(ck, data)
    if prepared is None or prepared.tokenizer.to_dict() != ck.tokenizer.to_dict():
        why = "is not here" if prepared is None else "holds another vocabulary"
        return f"its prepared data ({path}) {why}; give --data DIR (the run's data/prepared) to draw it"
    return position_curve(ck.model, prepared.splits["val"], boundary_id=prepared.boundary_id)


def _corpus(ck) -> dict:
    """The data settings that name `ck`'s text, in today's keys (a checkpoint may be older than the blocks)."""
    from ..data.config import from_stored

    return {k: v for k, v in from_stored(ck.meta.get("data") or {}).items() if k in CORPUS_KEYS}


def _text_ids(ck_a, ck_b, a: argparse.Namespace) -> tuple[str, dict]:
    """(what the text is, side -> its ids): --text encoded by each tokenizer, or a split of prepared data, encoded
    anew for a side whose tokenizer is not the data's (lined up on characters later)."""
    if a.text is not None:
        return f"--text {a.text}", {
            n: encode_text_file(ck.tokenizer, a.text)[1] for n, ck in (("A", ck_a), ("B", ck_b))
        }
    if a.data is None and _corpus(ck_a) != _corpus(ck_b):
        ca, cb = _corpus(ck_a), _corpus(ck_b)
        raise CliError(
            f"A and B were trained on different texts (A: {ca.get('name')} {ca.get('path') or ''}, B: "
            f"{cb.get('name')} {cb.get('path') or ''}), so their splits differ; give --text FILE to score both on one"
        )
    prepared, path = _prepared(ck_a, a.data)
    if prepared is None:
        raise CliError(f"A's prepared data {path} is not here; run from the project folder, or give --data or --text")
    if a.split not in prepared.splits:
        raise CliError(f"--split {a.split}: {path} has {sorted(prepared.splits)}; pick one of them")
    ids = np.asarray(prepared.splits[a.split])
    out = {}
    for name, ck in (("A", ck_a), ("B", ck_b)):
        if ck.tokenizer.to_dict() == prepared.tokenizer.to_dict():
            out[name] = ids
            continue
        text = prepared.tokenizer.decode(ids)
        fix = "diff models trained on this text, or give --text FILE that both vocabularies cover"
        if err := unknown_char(ck.tokenizer, text, f"the {a.split} split of {path}", fix):
            raise err
        out[name] = ck.tokenizer.encode(text)
    return f"the {a.split} split of {path}", out


def _cut(cks, ids: dict, what: str, max_chars: int | None, lines: bool) -> tuple[dict, int]:
    """(each side's ids, the characters they spell), checked to spell UTF-8 text (align.spelled), and with
    --max-chars cut to the longest start of the text of at most that many characters where both sides' tokens end
    (and a document ends, for a lines corpus), so both still spell one text."""
    from ..diff.align import spelled

    ends = {n: np.cumsum(spelled(ck.tokenizer, ids[n], what)[1]) for n, ck in cks.items()}  # (N,) chars so far
    if max_chars is None:
        return ids, int(ends["A"][-1])
    common = np.intersect1d(ends["A"], ends["B"])  # character counts at which both sides' tokens end
    if lines:  # ... just after a boundary token: whole documents
        common = np.intersect1d(common, ends["A"][np.asarray(ids["A"]) == cks["A"].tokenizer.boundary_id])
    common = common[common <= max_chars]
    keep = {n: int(np.searchsorted(e, common[-1], side="right")) if len(common) else 0 for n, e in ends.items()}
    if min(keep.values()) < 2:
        first = "document" if lines else "token"
        raise CliError(f"--max-chars {max_chars} keeps no prediction of {what} (its first {first} is longer); "
                       "give a larger --max-chars")  # fmt: skip
    return {n: np.asarray(ids[n])[:k] for n, k in keep.items()}, int(common[-1])


def _check_memory(cks, ids: dict, chars: int, batch_size: int) -> None:
    """Refuse a diff that cannot fit in memory (LMLADDER_MEMORY_LIMIT included) before anything is scored, with the
    --max-chars that would: its arrays per character and per token (diff.BYTES_PER_CHAR, BYTES_PER_TOKEN) and the
    larger side's scoring."""
    from ..diff import BYTES_PER_CHAR, BYTES_PER_TOKEN
    from ..inference.tokens import TOP_BYTES
    from ..resources import available_bytes, check_fits, fmt_bytes

    fix = "lower --batch-size"
    scoring = TOP_BYTES + max(check_scoring(ck.model, ids[n], ck.tokenizer.boundary_id, None, batch_size, fix)
                              for n, ck in cks.items())  # fmt: skip
    per = BYTES_PER_CHAR + BYTES_PER_TOKEN * (len(ids["A"]) + len(ids["B"])) / chars  # bytes per character
    need, have = chars * per + scoring, available_bytes()
    if need > have:
        fit = int(0.9 * (have - scoring) / per)  # a margin for the probes' noise, then two significant digits
        fit -= fit % 10 ** max(len(str(fit)) - 2, 0)
        fix = f"diff a part of it: --max-chars {fit:,} fits" if fit >= 2 else fix
        check_fits(need, f"a diff of {chars:,} characters (about {per:.0f} bytes each, and {fmt_bytes(scoring)} "
                   "to score them)", fix)  # fmt: skip


def cmd_diff(a: argparse.Namespace) -> int:
    from ..checkpoints import load_training_checkpoint
    from ..diff import Side, align, write_diff
    from ..diff.align import check_possible
    from ..inference.scoring import PROGRESS_FROM
    from ..inference.tokens import token_scores
    from ..insight.page import label

    if a.text is not None and a.data is not None:
        raise CliError("--text and --data both given; score a text file or a prepared split, not both")
    if a.batch_size < 1:
        raise CliError(f"--batch-size {a.batch_size} must be >= 1")
    if a.max_chars is not None and a.max_chars < 2:
        raise CliError(f"--max-chars {a.max_chars} must be >= 2: a diff needs a character to predict after the first")
    place = {"writer": "diff", "force": a.force, "inputs": [x for x in (a.a, a.b, a.text, a.data) if x]}
    if a.out:
        check_output_folder(a.out, **place)  # before loading or scoring anything: a refusal costs nothing
    cks = {n: load_training_checkpoint(checkpoint_path(t, error=CliError)) for n, t in (("A", a.a), ("B", a.b))}
    out = Path(a.out) if a.out else Path(f"diff-{cks['A'].model.rung}-vs-{cks['B'].model.rung}")
    check_output_folder(out, **place)
    what, ids = _text_ids(cks["A"], cks["B"], a)
    lines = {n: ck.tokenizer.boundary_id is not None for n, ck in cks.items()}
    if lines["A"] != lines["B"]:
        raise CliError("one checkpoint models documents (one per line) and the other a stream; diff two of a kind")
    ids, chars = _cut(cks, ids, what, a.max_chars, lines["A"])
    _check_memory(cks, ids, chars, a.batch_size)
    sides = {}
    for n, target in (("A", a.a), ("B", a.b)):
        ck = cks[n]
        print(f"[diff] scoring {n}: {ck.model.rung} on {len(ids[n]):,} tokens", file=sys.stderr)
        scores = token_scores(ck.model, ids[n], boundary_id=ck.tokenizer.boundary_id, batch_size=a.batch_size,
                              progress=len(ids[n]) > PROGRESS_FROM)  # fmt: skip
        sides[n] = Side(n, target, ck.model.rung, ck.tokenizer, np.asarray(ids[n]), scores)
        check_possible(sides[n], what)  # before B is scored: an infinite NLL has no difference to draw
    al = align(sides["A"], sides["B"], lines=lines["A"])
    print(f"[diff] writing {out}: {len(al.text):,} characters", file=sys.stderr)
    labels = {n: (lambda i, tok=s.tokenizer: label(tok, i)) for n, s in sides.items()}
    with output_folder(out, **place) as tmp:  # force: output_folder has checked the folder
        page = write_diff(tmp, sides["A"], sides["B"], al, labels=labels, what=what, force=True,
                          progress=len(al.text) > PROGRESS_FROM)  # fmt: skip
    print(f"[diff] {out / page.name}")
    return 0


def add_parser(sub) -> None:
    d = sub.add_parser("diff", help="where on a text B beats A: a coloured HTML page, spans, classes (CSV/JSON)")
    d.add_argument("a", help="the baseline: a run folder or model.safetensors")
    d.add_argument("b", help="the candidate: a run folder or model.safetensors")
    d.add_argument("--text", help="score this UTF-8 text file (default: a split of the prepared data)")
    d.add_argument("--data", help="prepared data folder (default: A's own paths.prepared, e.g. data/prepared)")
    d.add_argument("--split", default="val", help="the split of the prepared data (default: val)")
    d.add_argument("--out", help="the folder to write (default: diff-<rung A>-vs-<rung B>)")
    d.add_argument("--force", action="store_true", help="replace an earlier diff's folder (never any other folder)")
    d.add_argument("--batch-size", type=int, default=32)
    d.add_argument(
        "--max-chars",
        type=int,
        metavar="N",
        help="diff only the first N characters of the text (whole documents, for names models)",
    )
    d.set_defaults(func=cmd_diff)
