"""Bootstrap replicates of a set of runs' losses: a residual bootstrap over seeds. Within each cell (one rung, size
and budget: the same run but for its seed) a run's loss is its cell's mean plus a seed-to-seed deviation drawn
from its rung's pool of them: every cell's deviations from its mean, scaled by sqrt(n / (n - 1)) so that the pool's
variance is the unbiased within-cell variance (drawing two seeds' own values again, with replacement, would halve
it). A rung with no cell of two seeds has no noise estimate: its runs stay as measured, and its intervals are
reported as unavailable rather than as zero-width."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd

LEVEL = 0.95


def cells(keys: pd.DataFrame) -> np.ndarray:
    """One integer per row: rows with equal keys share a cell (a missing key, e.g. a sweep run's budget kind, is "":
    pandas 3's astype(str) keeps it missing)."""
    return keys.map(lambda v: "" if pd.isna(v) else str(v)).agg("\x1f".join, axis=1).factorize(sort=True)[0]


def pools(values: np.ndarray, cell: np.ndarray, group: np.ndarray) -> dict[int, np.ndarray]:
    """group -> its seed-to-seed deviations (inflated residuals), for the groups (rungs) with a cell of 2 runs."""
    out: dict[int, list[float]] = {}
    for c in np.unique(cell):
        rows = np.flatnonzero(cell == c)
        if len(rows) > 1:
            r = (values[rows] - values[rows].mean()) * np.sqrt(len(rows) / (len(rows) - 1))
            out.setdefault(int(group[rows[0]]), []).extend(r.tolist())
    return {g: np.asarray(v) for g, v in out.items()}


def replicates(values, cell, group, n: int, rng: np.random.Generator) -> Iterator[np.ndarray]:
    """n replicate value arrays: each cell's mean plus deviations drawn from its group's pool (runs of a group
    without a pool keep their values)."""
    values = np.asarray(values, float)
    means = pd.Series(values).groupby(cell).transform("mean").to_numpy()
    pool = pools(values, cell, group)
    noisy = np.isin(group, list(pool))
    for _ in range(n):
        out = values.copy()
        for g, p in sorted(pool.items()):  # a fixed order: the draws never depend on how the dict was built
            rows = np.flatnonzero(group == g)
            out[rows] = means[rows] + p[rng.integers(0, len(p), len(rows))]
        yield np.where(noisy, out, values)


def interval(values, level: float = LEVEL) -> tuple[float, float]:
    """The central percentile interval of the finite values, or NaNs when there are none."""
    v = np.asarray(values, float)
    v = v[np.isfinite(v)]
    if not len(v):
        return float("nan"), float("nan")
    q = (1 - level) / 2
    return float(np.quantile(v, q)), float(np.quantile(v, 1 - q))
