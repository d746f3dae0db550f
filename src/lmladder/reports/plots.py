"""Pictures and curves of a report: perplexity by setting with error bars beside every run's val-loss curve (PNG),
and the curves as one TSV per run for `dvc plots`."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from ..io import atomic_directory, atomic_writer
from .collect import settings


def plot(
    summary: pd.DataFrame,
    by: list[str],
    curves: dict[str, pd.DataFrame],
    path: Path,
    *,
    groups: dict[str, str] | None = None,
) -> None:
    """Perplexity by setting with error bars (left) and every run's val-loss curve, one colour per setting
    (`groups`: curve name -> setting)."""
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
