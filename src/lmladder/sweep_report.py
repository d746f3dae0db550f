"""`lmladder report` and `lmladder compare` (sweeps and experiment comparison).

lmladder report outputs/multirun/2026-11-22/05-07-32          # -> that folder's report/ (CSV, Markdown, PNG)
lmladder report outputs                                       # the DVC pipeline's outputs/<rung>/seed<N>
lmladder compare outputs/multirun/A outputs/multirun/B        # two sweeps, row by row
lmladder compare HEAD:                                        # last commit's outputs/reports vs the workspace
lmladder compare my-exp: other-exp:                           # two DVC experiments (names from `dvc exp show`)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .report import SCORES


def cmd_report(a: argparse.Namespace) -> int:
    from .report import write_report
    from .sweeps import collect

    runs = collect(a.dir)
    out = Path(a.out) if a.out else Path(a.dir) / "report"
    t = runs.table
    notes = []
    if runs.fixed:
        notes.append("Fixed overrides: " + ", ".join(f"`{k}={v}`" for k, v in runs.fixed.items()))
    notes.append(
        f"{len(t)} jobs, {int((t['status'] == 'ok').sum())} finished; n counts finished seeds; mean ± std over seeds; "
        "best (lowest val NLL) first."
    )
    title = a.title or f"Perplexity by setting: {a.dir}"
    write_report(t, runs.by, out, title=title, curves=runs.curves, groups=runs.groups, notes=notes)
    print((out / "perplexity.md").read_text())
    bad = int((t["status"] != "ok").sum())
    print(f"[report] {out}/perplexity.{{csv,md,png}}, runs.csv, metrics.json", file=sys.stderr)
    if bad:
        print(f"lmladder report: {bad} of {len(t)} jobs failed or are incomplete (listed above)", file=sys.stderr)
    return 1 if bad and a.strict else 0


def cmd_compare(a: argparse.Namespace) -> int:
    from .compare import compare, load, markdown
    from .io import atomic_write_text

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
        out = Path(a.out)
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out / "compare.csv", table.to_csv(index=False))
        atomic_write_text(out / "compare.md", md)
        print(f"[compare] {out}/compare.{{csv,md}}", file=sys.stderr)
    return 0


def add_report_commands(sub: argparse._SubParsersAction) -> None:
    """Registered by cli.build_parser."""
    r = sub.add_parser(
        "report",
        help="one table (mean ± std over seeds) from a sweep folder or the pipeline's outputs/",
        description="Turn a Hydra sweep folder (outputs/multirun/<date>/<time>) or the DVC pipeline's outputs/ "
        "into one table per setting: CSV, Markdown (also printed) and a PNG. Failed jobs are listed, not counted.",
    )
    r.add_argument("dir", help="sweep folder, a folder of sweeps, or outputs/ (DVC layout outputs/<rung>/seed<N>)")
    r.add_argument("--out", help="where to write the report (default: DIR/report)")
    r.add_argument("--title", help="Markdown title (default: names DIR)")
    r.add_argument("--strict", action="store_true", help="exit 1 when any job failed or is incomplete (for CI)")
    r.set_defaults(func=cmd_report)

    c = sub.add_parser(
        "compare",
        help="two reports row by row, with deltas judged against the seed spread",
        description="Each side is a report folder or CSV (lmladder report, or outputs/reports from `dvc repro`), "
        "a sweep folder, or REV:PATH read from a git revision or DVC experiment "
        "(`REV:` alone = REV:outputs/reports/perplexity.csv). Δ = B − A; |Δ| ≤ max(std A, std B) is 'within noise'.",
    )
    c.add_argument("a", help="the baseline: folder, CSV, or REV:PATH (e.g. HEAD:, main:outputs/reports, my-exp:)")
    c.add_argument("b", nargs="?", default="outputs/reports", help="the candidate (default: outputs/reports)")
    c.add_argument(
        "--metric",
        action="append",
        choices=[*SCORES, "params", "train_time_s", "tokens_per_s"],
        help="score to compare (repeatable; default val_nll)",
    )
    c.add_argument("--repo", default=".", help="the git/DVC repository REV:PATH is read from (default: .)")
    c.add_argument("--out", help="also write compare.csv and compare.md into this folder")
    c.set_defaults(func=cmd_compare)
