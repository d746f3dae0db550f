"""The `lmladder` command: sample from or score text with any checkpoint, tabulate runs and compare tables.

lmladder sample outputs/transformer/seed0/model.safetensors --num-samples 5 --temperature 0.8
lmladder sample outputs/rnn/seed0/model.safetensors --prompt-file prompt.txt --beam 5 --stop $'\n\n'
lmladder evaluate outputs/mlp/seed0/model.safetensors --text held_out.txt
lmladder report outputs/multirun/2026-11-22/05-07-32          # -> that folder's report/ (CSV, Markdown, PNG)
lmladder report outputs                                       # the DVC pipeline's outputs/<rung>/seed<N>
lmladder compare outputs/multirun/A outputs/multirun/B        # two sweeps, row by row
lmladder compare HEAD:                                        # last commit's outputs/reports vs the workspace
lmladder compare my-exp: other-exp:                           # two DVC experiments (names from `dvc exp show`)
lmladder compare outputs/bigram/seed0 outputs/mlp/seed0       # two single runs: one row, A against B
lmladder diff outputs/bigram/seed0 outputs/transformer/seed0  # where on val B beats A: diff-*/index.html
lmladder export outputs/transformer/seed0 --to hf gpt-hf      # transformers folder; --to gguf gpt.gguf: llama.cpp
lmladder frontier plan conf/frontier/names.yaml               # a compute-frontier study (cli_frontier.py)
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from ..errors import LmladderError
from ..reports.compare import METRICS
from ..stdout import guard_stdout, guarded_stdout
from .checkpoint import CliError, cmd_evaluate, cmd_sample
from .diff import add_parser as add_diff
from .frontier import add_parser as add_frontier


def cmd_report(a: argparse.Namespace) -> int:
    """Turn a Hydra sweep folder (outputs/multirun/<date>/<time>) or the DVC pipeline's outputs/ into one table per
    setting (CSV, Markdown, also printed, and a PNG) and a timing table. Failed jobs are listed, not counted."""
    from ..io import check_output_folder, output_folder
    from ..reports import collect, write_report

    out = Path(a.out) if a.out else Path(a.dir) / "report"
    place = {"writer": "report", "inputs": [a.dir]}
    check_output_folder(out, **place)  # before reading the runs: a refusal costs nothing
    runs = collect(a.dir)
    t = runs.table
    notes = ["Fixed overrides: " + ", ".join(f"`{k}={v}`" for k, v in runs.fixed.items())] if runs.fixed else []
    notes.append(
        f"{len(t)} jobs, {int((t['status'] == 'ok').sum())} finished; n counts finished seeds; mean ± std over seeds; "
        "best (lowest val NLL) first."
    )
    with output_folder(out, **place) as tmp:
        write_report(runs, tmp, title=a.title or f"Perplexity by setting: {a.dir}", notes=notes)
    print((out / "perplexity.md").read_text(encoding="utf-8"))
    print((out / "timing.md").read_text(encoding="utf-8"))
    sys.stdout.flush()  # the tables go out before the note below (a full disk fails here, in one line)
    print(f"[report] {out}/perplexity.{{csv,md,png}}, runs.csv, metrics.json, timing.{{csv,md}}", file=sys.stderr)
    if bad := int((t["status"] != "ok").sum()):
        print(f"lmladder report: {bad} of {len(t)} jobs failed or are incomplete (listed above)", file=sys.stderr)
    return 1 if bad and a.strict else 0


def cmd_compare(a: argparse.Namespace) -> int:
    """Each side is a report folder or CSV (lmladder report, or outputs/reports from `dvc repro`), a sweep folder,
    a single run (its folder or checkpoint: two runs are one row, A against B), or REV:PATH read from a git
    revision or DVC experiment (`REV:` alone = REV:outputs/reports/perplexity.csv).
    Δ = B − A; |Δ| ≤ max(std A, std B) is 'within noise'. Where both sides have unit scores, a paired bootstrap
    over the shared documents/blocks (and Welch's test over seeds) gives intervals, p-values and a verdict."""
    from ..io import check_output_folder, output_folder
    from ..reports.collect import settings
    from ..reports.compare import compare, load, markdown
    from ..reports.paired import compare_units, paired_markdown
    from ..reports.single import load_pair, single_run

    place = {"writer": "compare", "inputs": [a.a, a.b]}
    if a.out:
        check_output_folder(a.out, **place)  # before reading the tables: a refusal costs nothing
    metrics = list(dict.fromkeys(a.metric or ["val_nll"]))  # a metric given twice is compared once
    ra, rb = single_run(a.a), single_run(a.b)
    if (ra is None) != (rb is None):
        one, other = (a.a, a.b) if ra is not None else (a.b, a.a)
        raise CliError(f"{one} is a single run and {other} is not; compare two runs, or two reports or sweeps")
    units = not a.no_units
    ta, tb = (
        load_pair(ra, rb)
        if ra is not None
        else (load(a.a, repo=a.repo, units=units), load(a.b, repo=a.repo, units=units))
    )
    table, by = compare(ta, tb, metrics)
    paired = compare_units(ta.summary, ta.by, tb.summary, tb.by, ta.units, tb.units)
    md = markdown(table, by, ta, tb, metrics)
    if paired.empty:
        md += "\nNo paired test: a side has no unit scores (units.npz, written by runs and reports since issue 29).\n"
    else:
        m = metrics[0]  # its seed-spread verdict beside the paired one, for a val score (lower is better)
        spread = dict(zip(settings(table, by, sep="/"), table[f"{m}_verdict"], strict=True)) if m[:4] == "val_" else {}
        md += "\n" + paired_markdown(paired, spread)
    print(md)
    if table[f"{metrics[0]}_verdict"].str.startswith("only in").all():
        print(
            f"lmladder compare: no setting is in both tables (A by {ta.by}, B by {tb.by}); "
            "compare tables of the same kind (two sweeps of one grid, or two pipeline reports)",
            file=sys.stderr,
        )
    if a.out:
        with output_folder(a.out, **place) as tmp:
            (tmp / "compare.csv").write_text(table.to_csv(index=False), encoding="utf-8")
            (tmp / "compare.md").write_text(md, encoding="utf-8")
            if not paired.empty:
                (tmp / "compare_paired.csv").write_text(paired.to_csv(index=False), encoding="utf-8")
        print(f"[compare] {a.out}/compare.{{csv,md}}", file=sys.stderr)
    return 0


def cmd_inspect(a: argparse.Namespace) -> int:
    """Pictures of a run or checkpoint (see lmladder.insight) into a folder with one self-contained index.html."""
    from ..checkpoints import load_training_checkpoint
    from ..insight import inspect_run
    from ..insight.page import locate
    from ..io import check_output_folder, output_folder
    from .checkpoint import unknown_char
    from .diff import run_positions

    run, checkpoint = locate(Path(a.target))
    out = Path(a.out) if a.out else run / "inspect"
    place = {"writer": "inspect", "inputs": [checkpoint, *([a.data] if a.data else [])]}
    check_output_folder(out, **place)  # before loading the model: a refusal costs nothing
    ids = None
    if a.prompt is not None:
        if not a.prompt:
            raise CliError("--prompt is empty; give some text, or leave --prompt out to use the start of a sample")
        target = Path(a.target)
        tok = load_training_checkpoint(target / "model.safetensors" if target.is_dir() else target).tokenizer
        if err := unknown_char(tok, a.prompt, "--prompt", "remove it from the prompt"):
            raise err
        ids = tok.encode(a.prompt)
    positions = lambda ck: run_positions(ck, a.data)  # noqa: E731 - once inspect_run has read the checkpoint
    note = lambda line: print(f"[inspect] {line}", file=sys.stderr)  # noqa: E731 - a picture not drawn
    with output_folder(out, **place) as tmp:
        page = inspect_run(checkpoint, tmp, prompt_ids=ids, layer=a.layer, seed=a.seed, log=note, positions=positions)
    print(f"[inspect] {out / page.name}")
    return 0


def cmd_export(a: argparse.Namespace) -> int:
    """Write a checkpoint in another program's format (see lmladder.export.FORMATS); atomic, so a failure leaves
    nothing half-written, and an existing output is replaced only with --force."""
    from ..export import export

    out = export(a.source, a.to, a.out, force=a.force)
    print(f"[export] {out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="lmladder", description="Sample from, score and compare lmladder models.")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("sample", help="generate text from a checkpoint")
    s.add_argument("checkpoint")
    s.add_argument("--prompt", help="text to continue (cropped on the left to the model's context)")
    s.add_argument(
        "--prompt-file",
        metavar="PATH",
        help="read the prompt from a file, - for stdin (a lines model drops its final newline)",
    )
    s.add_argument("--num-samples", type=int, help="how many samples (default 5; 1 with --beam)")
    s.add_argument("--max-new-tokens", type=int, default=200)
    s.add_argument("--temperature", type=float, help="default 1; 0 = greedy")
    s.add_argument("--top-k", type=int, default=None)
    s.add_argument("--top-p", type=float, default=None)
    s.add_argument("--greedy", action="store_true", help="always take the most likely token")
    s.add_argument(
        "--beam", type=int, metavar="N", help="beam search with N beams: the best by mean log-prob per token"
    )
    s.add_argument("--stop", metavar="STRING", help="end a sample once its new text contains STRING (printed with it)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--no-cache", action="store_true", help="decode without the KV cache (GPT)")
    s.set_defaults(func=cmd_sample)

    e = sub.add_parser("evaluate", help="score a text file: NLL, perplexity, bits per char (JSON)")
    e.add_argument("checkpoint")
    e.add_argument("--text", required=True, help="UTF-8 text file, - for stdin (a document per line for names models)")
    e.add_argument("--batch-size", type=int, default=32)
    e.add_argument("--units", metavar="PATH", help="also write per-unit scores (.npz: documents or 1,000-char blocks)")
    e.add_argument("--force", action="store_true", help="replace an existing --units file")
    e.add_argument(
        "--window", type=int, metavar="N",
        help="score in half-overlapping rows of N tokens instead of the model's own length (a rotary GPT may "
        "read beyond the length it was trained on)",
    )  # fmt: skip
    e.set_defaults(func=cmd_evaluate)

    i = sub.add_parser("inspect", help="pictures of a run or checkpoint, in a folder with index.html")
    i.add_argument("target", help="a run folder (outputs/<rung>/seed<N>, a Hydra job folder) or a checkpoint file")
    i.add_argument("--out", help="where to write (default: <run folder>/inspect)")
    i.add_argument("--prompt", help="text for the attention maps and next-token table (default: a sample's start)")
    i.add_argument("--layer", type=int, help="draw this attention layer only (default: all)")
    i.add_argument("--seed", type=int, default=0, help="seed of the sample the histograms are taken on")
    i.add_argument(
        "--data", help="prepared data whose val split the loss-by-position curve is drawn on (default: the run's own)"
    )
    i.set_defaults(func=cmd_inspect)

    from ..export import FORMATS

    x = sub.add_parser("export", help="write a checkpoint for other programs (transformers, llama.cpp)")
    x.add_argument("source", help="a run folder (outputs/<rung>/seed<N>) or a model.safetensors")
    formats = "; ".join(f"{k}: {f.what}" for k, f in FORMATS.items())
    x.add_argument("--to", required=True, metavar="FORMAT", help=formats)
    x.add_argument("out", help="where to write: a folder (hf) or a file (gguf)")
    x.add_argument("--force", action="store_true", help="replace an existing, non-empty output")
    x.set_defaults(func=cmd_export)

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
    c.add_argument("--no-units", action="store_true", help="leave out reports' unit scores (no paired test)")
    c.set_defaults(func=cmd_compare)
    add_diff(sub)
    add_frontier(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    with guarded_stdout("lmladder"):  # --help is printed to stdout too
        args = build_parser().parse_args(argv)
        guard_stdout(f"lmladder {args.command}")
        try:
            if getattr(args, "seed", 0) < 0:  # NumPy's generators take no negative seed (a traceback, deep inside)
                raise CliError(f"--seed {args.seed} must be >= 0")
            return args.func(args)
        except (LmladderError, KeyboardInterrupt) as e:
            if os.environ.get("LMLADDER_DEBUG"):
                raise
            if isinstance(e, LmladderError):
                print(f"lmladder {args.command}: error: {e}", file=sys.stderr)
                return 2
            print(f"lmladder {args.command}: interrupted {e}".rstrip(), file=sys.stderr)
            return 130  # 128 + SIGINT, as a shell reports a process Ctrl-C stopped


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
