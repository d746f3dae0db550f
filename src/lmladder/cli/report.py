"""`lmladder report DIR`: one table per setting (mean ± std over seeds) from a sweep folder or outputs/."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def cmd_report(a: argparse.Namespace) -> int:
    """Turn a Hydra sweep folder (outputs/multirun/<date>/<time>) or the DVC pipeline's outputs/ into one table per
    setting (CSV, Markdown, also printed, and a PNG) and a timing table. Failed jobs are listed, not counted."""
    from ..io import check_output_folder, output_folder
    from ..reports.collect import collect
    from ..reports.tables import write_report

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


def add_parser(sub) -> None:
    what = "one table (mean ± std over seeds) from a sweep folder or the pipeline's outputs/"
    r = sub.add_parser("report", help=what, description=cmd_report.__doc__)
    r.add_argument("dir", help="sweep folder, a folder of sweeps, or outputs/ (DVC layout outputs/<rung>/seed<N>)")
    r.add_argument("--out", help="where to write the report (default: DIR/report)")
    r.add_argument("--title", help="Markdown title (default: names DIR)")
    r.add_argument("--strict", action="store_true", help="exit 1 when any job failed or is incomplete (for CI)")
    r.set_defaults(func=cmd_report)
