"""`lmladder compare A B`: two reports, sweeps or runs row by row, with deltas judged against the seed spread and,
where both sides have unit scores, a paired bootstrap."""

from __future__ import annotations

import argparse
import sys

from ..reports.names import METRICS
from .common import CliError


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


def add_parser(sub) -> None:
    what = "two reports row by row, with deltas judged against the seed spread"
    c = sub.add_parser("compare", help=what, description=cmd_compare.__doc__)
    c.add_argument("a", help="the baseline: folder, CSV, or REV:PATH (e.g. HEAD:, main:outputs/reports, my-exp:)")
    c.add_argument("b", nargs="?", default="outputs/reports", help="the candidate (default: outputs/reports)")
    c.add_argument("--metric", action="append", choices=METRICS, help="score to compare (repeatable; default val_nll)")
    c.add_argument("--repo", default=".", help="the git/DVC repository REV:PATH is read from (default: .)")
    c.add_argument("--out", help="also write compare.csv and compare.md into this folder")
    c.add_argument("--no-units", action="store_true", help="leave out reports' unit scores (no paired test)")
    c.set_defaults(func=cmd_compare)
