"""Perplexity tables: per-run rows -> one row per configuration with mean ± std over seeds, written as CSV,
Markdown, a metrics JSON for `dvc metrics` and a PNG, all quality only and deterministic (the same runs give the
same bytes, so they can be DVC outputs); the wall-clock timings go to a separate timing table. Rows with a `status`
(sweeps) count only when "ok"; the others are listed as failed."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from ..io import atomic_write_json, atomic_write_text
from .collect import HEALTH, Runs, settings
from .names import SCORES, TIMINGS
from .paired import add_intervals, grouped, interval_text, prev_text, write_units
from .plots import plot

INTERVAL_NOTE = (
    "95%: bootstrap interval of the mean NLL over the split's units (documents or 1,000-character blocks), "
    "pooled over seeds; *(n.s.)*: the difference from the previous row in ladder order is not significant "
    "(p ≥ 0.05). See docs/comparing.md."
)
# column -> (Markdown header, digits); digits None: a count, shown whole
QUALITY = {"params": ("params", None)} | {c: (c.replace("_", " "), 4) for c in SCORES} | {"novelty": ("novelty", 3)}
TIMING = {"train_time_s": ("train s", 1), "tokens_per_s": ("tokens/s", 0)}
HEALTH_COLUMNS = {
    "clip_events": ("clipped steps", 0),
    "saturated_max": ("tanh saturated (max layer)", 3),
    "dead_max": ("dead units (max layer)", 3),
    "update_data": ("log10 update:data (median)", 2),
    "attn_entropy_min": ("attention entropy, nats (min head)", 3),
}


def summarize(runs: pd.DataFrame, by: Sequence[str]) -> pd.DataFrame:
    """Mean, std (ddof=1; 0 for one seed) and n per group, sorted best (lowest val NLL) first.

    With a `status` column (sweeps), only "ok" runs count: n is the number of successful seeds, `failed` the
    others, and a configuration whose every seed failed stays in the table (last, with NaN scores)."""
    cols = [c for c in (*SCORES, "params", "novelty", *TIMINGS, *HEALTH) if c in runs and runs[c].notna().any()]
    ok = runs["status"].eq("ok") if "status" in runs else pd.Series(True, index=runs.index)
    runs = runs.assign(_ok=ok.astype(int), _failed=(~ok).astype(int))
    runs[cols] = runs[cols].astype(float).where(ok)  # a failed job's partial numbers never enter a mean
    g = runs.groupby(list(by), sort=False, dropna=False)
    out = g[cols].mean()
    out = out.join(g[cols].std(ddof=1).fillna(0.0).add_suffix("_std"))
    counts = g[["_ok", "_failed"]].sum()
    if counts["_failed"].any():
        out.insert(0, "failed", counts["_failed"])
    out.insert(0, "n", counts["_ok"])
    if "tokenizer" in runs and "tokenizer" not in by:  # which tokenizer each row used (its NLL is per its token)
        out.insert(0, "tokenizer", g["tokenizer"].agg(lambda s: "/".join(sorted({str(v) for v in s.dropna()})) or "—"))
    out = out.reset_index()
    if "val_nll" not in out:
        return out
    return out.sort_values("val_nll", kind="stable", na_position="last").reset_index(drop=True)


def pm(mean: float, std: float, n: int, digits: int = 4) -> str:
    """ "mean ± std", or the mean alone for one seed; "—" for none."""
    if mean != mean:  # NaN
        return "—"
    return f"{mean:,.{digits}f} ± {std:,.{digits}f}" if n > 1 else f"{mean:,.{digits}f}"


def markdown(
    summary: pd.DataFrame,
    by: Sequence[str],
    columns: dict[str, tuple[str, int | None]],
    title: str | None = None,
    *,
    notes: Sequence[str] = (),
    failures: pd.DataFrame | None = None,
) -> str:
    """The summary's `columns` as a Markdown table (mean ± std over n seeds), then any failed or incomplete jobs."""
    show = summary[[*by, *(c for c in ("tokenizer", "n", "failed") if c in summary and c not in by)]].copy()
    for c, (header, digits) in columns.items():
        if c in summary and digits is None:
            show[header] = summary[c].map(lambda v: f"{int(v):,}" if v == v else "—")
        elif c in summary:
            trip = zip(summary[c], summary[c + "_std"], summary["n"], strict=True)
            show[header] = [pm(m, s, n, digits) for m, s, n in trip]
    if "val_nll_lo" in summary:  # unit scores: 95% bootstrap intervals and the paired test against the rung below
        for split in ("val", "test"):
            show[f"{split} NLL 95%"] = [
                interval_text(lo, hi) for lo, hi in summary[[f"{split}_nll_lo", f"{split}_nll_hi"]].values
            ]
        trip = zip(summary["vs_prev"], summary["prev_delta"], summary["prev_p"], strict=True)
        show["Δ val NLL vs previous"] = [prev_text(*t) for t in trip]
    parts = [f"# {title}\n"] if title else []
    parts += [f"{n}\n" for n in notes]
    parts.append(show.to_markdown(index=False) + "\n")
    if failures is not None and len(failures):
        parts.append(failed_markdown(failures, by))
    return "\n".join(parts)


def failed_markdown(failures: pd.DataFrame, by: Sequence[str]) -> str:
    """The jobs that did not finish (not counted in n), with their one-line error."""
    cols = [c for c in (*by, "seed", "status", "job", "error") if c in failures]
    show = failures[cols].copy()
    show["error"] = show["error"].map(lambda e: (str(e)[:197] + "...") if len(str(e)) > 200 else str(e))
    show["error"] = show["error"].str.replace("|", "\\|", regex=False)
    return f"## Failed or incomplete jobs ({len(show)}, not counted in n)\n\n" + show.to_markdown(index=False) + "\n"


def metrics_json(summary: pd.DataFrame, by: Sequence[str]) -> dict:
    """{group: {score: mean}} for `dvc metrics show/diff`: quality only; `score_std` and `n` where n > 1."""
    out = {}
    for key, r in zip(settings(summary, by, sep="/"), summary.to_dict("records"), strict=True):
        n = int(r["n"])
        cols = [c for c in SCORES if c in r] + ([f"{c}_std" for c in SCORES if c in r] if n > 1 else [])
        out[key] = {c: None if math.isnan(r[c]) else float(r[c]) for c in cols} | ({"n": n} if n > 1 else {})
    return out


def write_report(runs: Runs, out_dir: str | Path, *, title: str, notes: Sequence[str] = ()) -> pd.DataFrame:
    """Into out_dir: perplexity.csv/.md/.png, runs.csv (one row per run) and metrics.json, quality only; then
    timing.csv/.md (wall clock, machine-local: never a DVC output) and health.csv/.md. Returns the whole summary.

    Runs with a `status` other than "ok" (sweeps) are listed in the Markdown as failed and never counted in n."""
    out, t, by = Path(out_dir), runs.table, runs.by
    summary = summarize(t, by)
    if runs.units:  # pooled-over-seeds intervals and the paired test between neighbouring rows
        summary = add_intervals(summary, by, grouped(t, by, runs.units))
        write_units(out, runs.units)
        notes = [*notes, INTERVAL_NOTE]
    timed = [c for c in summary if c.startswith(TIMINGS)]
    health = [c for c in summary if c.startswith(HEALTH)]
    quality = summary.drop(columns=timed + health)
    failures = t[t["status"] != "ok"] if "status" in t else None
    atomic_write_text(out / "runs.csv", t.drop(columns=[c for c in (*TIMINGS, *HEALTH) if c in t]).to_csv(index=False))
    atomic_write_text(out / "perplexity.csv", quality.to_csv(index=False))
    atomic_write_text(out / "perplexity.md", markdown(quality, by, QUALITY, title, notes=notes, failures=failures))
    atomic_write_json(out / "metrics.json", metrics_json(summary, by))
    plot(quality, by, runs.curves, out / "perplexity.png", groups=runs.groups)
    timing = summary[[*by, "n", *timed]]
    atomic_write_text(out / "timing.csv", timing.to_csv(index=False))
    note = "Wall clock on the machine that trained each run: compare only runs from one idle machine."
    atomic_write_text(out / "timing.md", markdown(timing, by, TIMING, "Training time and throughput", notes=[note]))
    # training/health.py: each network at its last health step (always written: the pipeline declares the files)
    table = summary[[*by, "n", *health]]
    atomic_write_text(out / "health.csv", table.to_csv(index=False))
    note = "At the last health step of each run (health_*.tsv in its folder has every step); guides in the README."
    atomic_write_text(out / "health.md", markdown(table, by, HEALTH_COLUMNS, "Network health", notes=[note]))
    return summary
