"""Perplexity tables: per-run rows -> one row per configuration with mean ± std over seeds, written as CSV,
Markdown, a metrics JSON for `dvc metrics`, and a PNG (perplexity bars with error bars + val-loss curves)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from .io import atomic_directory, atomic_write_json, atomic_write_text

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
    """Mean, std (ddof=1; 0 for one seed) and n per group, sorted best (lowest val NLL) first."""
    cols = [c for c in (*SCORES, *EXTRAS) if c in runs and runs[c].notna().any()]
    g = runs.groupby(list(by), sort=False, dropna=False)
    out = g[cols].mean()
    std = g[cols].std(ddof=1).fillna(0.0)
    out = out.join(std.add_suffix("_std"))
    out.insert(0, "n", g.size())
    out = out.reset_index()
    return out.sort_values("val_nll", kind="stable").reset_index(drop=True)


def _pm(mean: float, std: float, n: int, digits: int = 4) -> str:
    if mean != mean:  # NaN
        return "—"
    return f"{mean:.{digits}f} ± {std:.{digits}f}" if n > 1 else f"{mean:.{digits}f}"


def markdown(summary: pd.DataFrame, by: Sequence[str], title: str | None = None) -> str:
    show = summary[list(by)].copy()
    show["n"] = summary["n"]
    if "params" in summary:
        show["params"] = summary["params"].map(lambda v: f"{int(v):,}" if v == v else "—")
    for c in SCORES:
        if c in summary:
            show[c.replace("_", " ")] = [
                _pm(m, s, n) for m, s, n in zip(summary[c], summary[c + "_std"], summary["n"], strict=True)
            ]
    if "tokens_per_s" in summary:
        show["tokens/s"] = summary["tokens_per_s"].map(lambda v: f"{v:,.0f}" if v == v else "—")
    head = f"# {title}\n\n" if title else ""
    return head + show.to_markdown(index=False) + "\n"


def metrics_json(summary: pd.DataFrame, by: Sequence[str]) -> dict:
    """Nested {group: {score: mean, score_std: std, n: n}} for `dvc metrics show/diff`."""
    out = {}
    for _, r in summary.iterrows():
        key = "/".join(str(r[b]) for b in by)
        out[key] = {
            k: (None if isinstance(v, float) and math.isnan(v) else v)
            for k, v in r.items()
            if k not in by and isinstance(v, (int, float, np.number))
        }
        out[key] = {k: (float(v) if v is not None else None) for k, v in out[key].items()}
    return out


def plot(summary: pd.DataFrame, by: Sequence[str], curves: dict[str, pd.DataFrame], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    labels = ["/".join(str(r[b]) for b in by) for _, r in summary.iterrows()]
    ax1.bar(labels, summary["val_ppl"], yerr=summary["val_ppl_std"], capsize=4, color="tab:blue")
    ax1.set_ylabel("val perplexity (exact, full split)")
    ax1.set_title("Perplexity by setting (mean ± std over seeds)")
    ax1.tick_params(axis="x", rotation=30)
    for name, df in curves.items():
        ax2.plot(df["step"], df["val_loss"], label=name)
    ax2.set_xlabel("step")
    ax2.set_ylabel("val loss (nanoGPT estimate)")
    ax2.set_title("Validation loss curves")
    if curves:
        ax2.legend(fontsize=7)
    fig.tight_layout()
    tmp = path.with_name(path.name + ".tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(path)


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
) -> pd.DataFrame:
    """perplexity.csv/.md, runs.csv (one row per run), metrics.json and perplexity.png into out_dir."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    summary = summarize(runs, by)
    atomic_write_text(out / "runs.csv", runs.to_csv(index=False))
    atomic_write_text(out / "perplexity.csv", summary.to_csv(index=False))
    atomic_write_text(out / "perplexity.md", markdown(summary, by, title))
    atomic_write_json(out / "metrics.json", metrics_json(summary, by))
    plot(summary, by, curves or {}, out / "perplexity.png")
    return summary
