"""The position curves of several rungs as files: positions.csv (rung, context, nll, count), positions.md (one row
per rung with its context used) and positions.png (inference/positions.py computes the curves)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..inference.positions import CONTEXT_TOL, PositionCurve
from ..io import atomic_writer
from . import figures
from .page import png


def curve_table(curves: dict[str, PositionCurve]) -> pd.DataFrame:
    """One row per (rung, context): mean NLL and count; positions nothing was scored at are left out."""
    rows = [
        {"rung": name, "context": p + 1, "nll": float(c.nll[p] / c.count[p]), "count": int(c.count[p])}
        for name, c in curves.items()
        for p in range(len(c.nll))
        if c.count[p]
    ]
    return pd.DataFrame(rows, columns=["rung", "context", "nll", "count"])


def summary_table(curves: dict[str, PositionCurve]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "rung": name,
                "window": _scored(c),
                "context_used": c.context_used(),
                "nll": c.mean_nll,
                "nll_context_1": float(c.nll[0] / c.count[0]) if c.count[0] else float("nan"),
                "nll_full_window": c.bins()[-1][2] if c.bins() else float("nan"),
            }  # fmt: skip
            for name, c in curves.items()
        ]
    )


def _scored(c: PositionCurve) -> int:
    """The longest context scored: the window, or the longest document of a lines split if shorter."""
    hit = c.count.nonzero()[0]
    return int(hit[-1]) + 1 if len(hit) else 0


def write_positions(curves: dict[str, PositionCurve], out_dir: str | Path, *, what: str) -> None:
    """positions.{csv,md,png} in `out_dir`, each written atomically; `what` names the text ("names val split")."""
    out = Path(out_dir)
    s = summary_table(curves)
    md = (
        f"# Loss against position in the context ({what})\n\n"
        f"Context used: the shortest context (tokens) whose loss is within {CONTEXT_TOL} nats of the full window's "
        "(contexts binned 1, 2, 3-4, 5-8, ...; see docs/cli.md). NLL: mean over every position of windows that do "
        "not overlap.\n\n" + s.to_markdown(index=False, floatfmt=".4f") + "\n"
    )
    with atomic_writer(out / "positions.csv", "w") as f:
        f.write(curve_table(curves).to_csv(index=False))
    with atomic_writer(out / "positions.md", "w") as f:
        f.write(md)
    fig = figures.loss_by_position({n: (c.mean, c.context_used()) for n, c in curves.items()})
    with atomic_writer(out / "positions.png", "wb") as f:
        f.write(png(fig))
