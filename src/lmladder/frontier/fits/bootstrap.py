"""Bootstrap replicates of a set of runs: within each cell (one rung, size and budget: the same run but for its
seed) the runs are drawn again with replacement, so every fit on a replicate sees the seed-to-seed noise of the
measurements and nothing else. A cell of one run is kept as it is: where no cell has two seeds there is no noise
to resample, and intervals are reported as unavailable rather than as zero-width."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd

LEVEL = 0.95


def cells(keys: pd.DataFrame) -> np.ndarray:
    """One integer per row: rows with equal keys share a cell."""
    return keys.astype(str).agg("\x1f".join, axis=1).factorize(sort=True)[0]


def resamplable(cell: np.ndarray) -> bool:
    """Whether some cell holds two runs or more."""
    return bool(len(cell)) and bool(np.bincount(cell).max() > 1)


def replicates(cell: np.ndarray, n: int, rng: np.random.Generator) -> Iterator[np.ndarray]:
    """n arrays of row indices, each a draw with replacement within every cell (order: the cells', then the rows')."""
    members = [np.flatnonzero(cell == c) for c in range(cell.max() + 1)] if len(cell) else []
    for _ in range(n):
        yield np.concatenate([m[rng.integers(0, len(m), len(m))] if len(m) > 1 else m for m in members])


def interval(values, level: float = LEVEL) -> tuple[float, float]:
    """The central percentile interval of the finite values, or NaNs when there are none."""
    v = np.asarray(values, float)
    v = v[np.isfinite(v)]
    if not len(v):
        return float("nan"), float("nan")
    q = (1 - level) / 2
    return float(np.quantile(v, q)), float(np.quantile(v, 1 - q))
