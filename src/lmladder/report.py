"""Perplexity tables: per-run rows -> one row per configuration with mean ± std over seeds, written as CSV,
Markdown, a metrics JSON for `dvc metrics`, and a PNG (perplexity with error bars + val-loss curves). Rows with a
`status` (sweeps) count only when "ok"; the others are listed as failed."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from .io import atomic_directory, atomic_write_json, atomic_write_text, atomic_writer

SCORES = ("val_nll", "val_ppl", "val_bpc", "test_nll", "test_ppl", "test_bpc")
EXTRAS = ("params", "train_time_s", "tokens_per_s")


def run_row(metrics: dict, **labels) -> dict:
    """Flatten one run's metrics.json (or fresh scores) into a table row."""
    row = dict(labels)
    for split in ("val", "test"):
        for k in ("nll", "ppl", "bpc"):
            row[f"{split}_{k}"] = metrics.get(split, {}).get(k, math.nan)
    for k in EXTRAS:
        row[k] = metrics.get(k, math.nan)
    return row


def summarize(runs: pd.DataFrame, by: Sequence[str]) -> pd.DataFrame:
    """Mean, std (ddof=1; 0 for one seed) and n per group, sorted best (lowest val NLL) first.

    With a `status` column (sweeps), only "ok" runs count: n is the number of successful seeds, `failed` the
    others, and a configuration whose every seed failed stays in the table (last, with NaN scores)."""
    cols = [c for c in (*SCORES, *EXTRAS) if c in runs and runs[c].notna().any()]
    ok = runs["status"].eq("ok") if "status" in runs else pd.Series(True, index=runs.index)
    runs = runs.assign(_ok=ok.astype(int), _failed=(~ok).astype(int))
    runs[cols] = runs[cols].astype(float).where(ok)  # a failed job's partial numbers never enter a mean
    g = runs.groupby(list(by), sort=False, dropna=False)
    out = g[cols].mean()
    std = g[cols].std(ddof=1).fillna(0.0)
    out = out.join(std.add_suffix("_std"))
    counts = g[["_ok", "_failed"]].sum()
    if counts["_failed"].any():
        out.insert(0, "failed", counts["_failed"])
    out.insert(0, "n", counts["_ok"])
    out = out.reset_index()
    if "val_nll" not in out:
        return out
    return out.sort_values("val_nll", kind="stable", na_position="last").reset_index(drop=True)


def _pm(mean: float, std: float, n: int, digits: int = 4) -> str:
    if mean != mean:  # NaN
        return "—"
    return f"{mean:.{digits}f} ± {std:.{digits}f}" if n > 1 else f"{mean:.{digits}f}"


def markdown(
    summary: pd.DataFrame,
    by: Sequence[str],
    title: str | None = None,
    *,
    notes: Sequence[str] = (),
    failures: pd.DataFrame | None = None,
) -> str:
    """The summary as a Markdown table (mean ± std over n seeds), then any failed or incomplete jobs."""
    show = summary[list(by)].copy()
    show["n"] = summary["n"]
    if "failed" in summary:
        show["failed"] = summary["failed"]
    if "params" in summary:
        show["params"] = summary["params"].map(lambda v: f"{int(v):,}" if v == v else "—")
    for c in SCORES:
        if c in summary:
            show[c.replace("_", " ")] = [
                _pm(m, s, n) for m, s, n in zip(summary[c], summary[c + "_std"], summary["n"], strict=True)
            ]
    if "train_time_s" in summary:
        show["train s"] = summary["train_time_s"].map(lambda v: _num(v, 1))
    if "tokens_per_s" in summary:
        show["tokens/s"] = summary["tokens_per_s"].map(lambda v: _num(v, 0))
    parts = [f"# {title}\n"] if title else []
    parts += [f"{n}\n" for n in notes]
    parts.append(show.to_markdown(index=False) + "\n")
    if failures is not None and len(failures):
        parts.append(failed_markdown(failures, by))
    return "\n".join(parts)


def _num(v: float, digits: int) -> str:
    return f"{v:,.{digits}f}" if v == v else "—"


def failed_markdown(failures: pd.DataFrame, by: Sequence[str]) -> str:
    """The jobs that did not finish (not counted in n), with their one-line error."""
    cols = [c for c in (*by, "seed", "status", "job", "error") if c in failures]
    show = failures[cols].copy()
    show["error"] = show["error"].map(lambda e: (str(e)[:197] + "...") if len(str(e)) > 200 else str(e))
    show["error"] = show["error"].str.replace("|", "\\|", regex=False)
    return f"## Failed or incomplete jobs ({len(show)}, not counted in n)\n\n" + show.to_markdown(index=False) + "\n"


def metrics_json(summary: pd.DataFrame, by: Sequence[str]) -> dict:
    """Nested {group: {score: mean, score_std: std, n: n}} for `dvc metrics show/diff`."""
    out = {}
    for key, (_, r) in zip(settings(summary, by, sep="/"), summary.iterrows(), strict=True):
        out[key] = {
            k: (None if isinstance(v, float) and math.isnan(v) else v)
            for k, v in r.items()
            if k not in by and isinstance(v, (int, float, np.number))
        }
        out[key] = {k: (float(v) if v is not None else None) for k, v in out[key].items()}
    return out


def settings(summary: pd.DataFrame, by: Sequence[str], sep: str | None = None) -> list[str]:
    """One label per row: "64" for one column, "n_layer=2, n_embd=64" for several (or values joined by sep)."""
    cols = {b: summary[b].astype(str).tolist() for b in by}  # per column, so 64 never turns into 64.0
    if sep is not None or len(by) == 1:
        return [(sep or "").join(vals) for vals in zip(*cols.values(), strict=True)]
    return [", ".join(f"{b}={v}" for b, v in zip(by, vals, strict=True)) for vals in zip(*cols.values(), strict=True)]


def plot(
    summary: pd.DataFrame,
    by: Sequence[str],
    curves: dict[str, pd.DataFrame],
    path: Path,
    *,
    groups: dict[str, str] | None = None,
) -> None:
    """Perplexity by setting with error bars (left) and every run's val-loss curve, one colour per setting."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.5))
    labels = settings(summary, by)
    ppl = summary["val_ppl"] if "val_ppl" in summary else pd.Series(math.nan, index=summary.index)
    err = summary["val_ppl_std"] if "val_ppl_std" in summary else None
    x = np.arange(len(labels))
    # points with error bars rather than bars from zero: settings often differ by a few percent
    ax1.errorbar(x, ppl, yerr=err, fmt="o", capsize=5, color="tab:blue")
    for i, v in enumerate(ppl):
        if v != v:  # every seed of this setting failed
            ax1.annotate("failed", (i, 0.5), xycoords=("data", "axes fraction"), ha="center", color="tab:red")
    ax1.set_xlim(-0.5, len(labels) - 0.5)
    ax1.grid(axis="y", alpha=0.3)
    long = max((len(lb) for lb in labels), default=0) > 8
    ax1.set_xticks(x, labels, rotation=30 if long else 0, ha="right" if long else "center", fontsize=8)
    ax1.set_ylabel("val perplexity (exact, full split)")
    ax1.set_xlabel(" / ".join(by) if len(by) == 1 else "")
    ax1.set_title("Perplexity by setting (mean ± std over seeds)")
    colours = {}
    for name, df in curves.items():
        group = (groups or {}).get(name, name)
        first = group not in colours
        colours.setdefault(group, f"C{len(colours) % 10}")
        ax2.plot(df["step"], df["val_loss"], color=colours[group], label=group if first else None, alpha=0.8)
    tails = [df["val_loss"].iloc[1:] for df in curves.values() if len(df) > 2]
    if tails:  # zoom past the untrained first point, where settings look alike, onto where they separate
        lo, hi = min(t.min() for t in tails), max(t.max() for t in tails)
        ax2.set_ylim(lo - 0.05 * (hi - lo), hi + 0.05 * (hi - lo) + 1e-9)
    ax2.set_xlabel("step")
    ax2.set_ylabel("val loss (nanoGPT estimate)")
    ax2.set_title("Validation loss curves (one line per run)")
    if curves:
        ax2.legend(fontsize=7)
    fig.tight_layout()
    try:  # into a unique temporary, renamed over the old figure only once complete
        with atomic_writer(path) as f:
            fig.savefig(f, format="png", dpi=110)
    finally:
        plt.close(fig)


def write_curves(curves: dict[str, pd.DataFrame], out_dir: str | Path) -> None:
    """One TSV per run (step, train_loss, val_loss) in a folder `dvc plots` renders as one series per file."""
    with atomic_directory(out_dir) as tmp:
        for name, df in curves.items():
            df.to_csv(tmp / f"{name}.tsv", sep="\t", index=False)


def write_report(
    runs: pd.DataFrame,
    by: Sequence[str],
    out_dir: str | Path,
    *,
    title: str,
    curves: dict[str, pd.DataFrame] | None = None,
    groups: dict[str, str] | None = None,
    notes: Sequence[str] = (),
) -> pd.DataFrame:
    """perplexity.csv/.md, runs.csv (one row per run), metrics.json and perplexity.png into out_dir.

    Runs with a `status` other than "ok" (sweeps) are listed in the Markdown as failed and never counted in n."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    summary = summarize(runs, by)
    failures = runs[runs["status"] != "ok"] if "status" in runs else None
    atomic_write_text(out / "runs.csv", runs.to_csv(index=False))
    atomic_write_text(out / "perplexity.csv", summary.to_csv(index=False))
    atomic_write_text(out / "perplexity.md", markdown(summary, by, title, notes=notes, failures=failures))
    atomic_write_json(out / "metrics.json", metrics_json(summary, by))
    plot(summary, by, curves or {}, out / "perplexity.png", groups=groups)
    return summary
