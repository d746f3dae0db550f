"""The compute frontier of a rung: the lower envelope of its runs' loss against compute (FLOPs, or seconds of this
machine), and where one rung's frontier falls below another's.

The envelope's points are the runs no cheaper run beats (each a mean over seeds); between them the frontier is
drawn straight in log compute. Two frontiers are compared over the compute both span; the crossover is the last
change of sign of their difference, after which the rung below stays below."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

GRID = 400  # points of log compute the difference is evaluated on


def pareto(compute: np.ndarray, loss: np.ndarray) -> np.ndarray:
    """Indices of the envelope's points, by increasing compute: each beats every cheaper point."""
    order = np.lexsort((loss, compute))
    keep, best = [], math.inf
    for i in order:
        if loss[i] < best:
            keep.append(i)
            best = loss[i]
    return np.asarray(keep, dtype=int)


@dataclass(frozen=True)
class Envelope:
    log_c: np.ndarray  # the envelope's points, increasing
    loss: np.ndarray  # decreasing

    @classmethod
    def of(cls, compute: np.ndarray, loss: np.ndarray) -> Envelope:
        idx = pareto(np.asarray(compute, float), np.asarray(loss, float))
        return cls(np.log(np.asarray(compute, float)[idx]), np.asarray(loss, float)[idx])

    def at(self, log_c: np.ndarray) -> np.ndarray:
        """The frontier at these log computes: straight between its points, NaN outside them."""
        out = np.interp(log_c, self.log_c, self.loss)
        return np.where((log_c >= self.log_c[0]) & (log_c <= self.log_c[-1]), out, np.nan)


@dataclass(frozen=True)
class Crossing:
    """Where A's frontier falls below B's (log compute), how often the sign changed, and over which range."""

    log_c: float  # NaN: no crossing in the shared range
    changes: int
    lo: float  # the shared range, log compute
    hi: float
    below_at_end: bool  # A is below B at the top of the shared range


def crossing(a: Envelope, b: Envelope) -> Crossing | None:
    """A against B over the compute both span (None: they share no range, or one has a single point)."""
    lo, hi = max(a.log_c[0], b.log_c[0]), min(a.log_c[-1], b.log_c[-1])
    if not hi > lo:
        return None
    grid = np.linspace(lo, hi, GRID)
    diff = a.at(grid) - b.at(grid)  # < 0 where A's frontier is lower
    sign = np.sign(diff)
    nonzero = np.flatnonzero(sign)
    if not len(nonzero):
        return Crossing(math.nan, 0, lo, hi, False)
    s = sign[nonzero]
    flips = np.flatnonzero(s[1:] != s[:-1])
    if not len(flips):
        return Crossing(math.nan, 0, lo, hi, bool(s[-1] < 0))
    i, j = nonzero[flips[-1]], nonzero[flips[-1] + 1]  # the last change of sign lies between grid[i] and grid[j]
    x = grid[i] + (grid[j] - grid[i]) * diff[i] / (diff[i] - diff[j])
    return Crossing(float(x), len(flips), lo, hi, bool(s[-1] < 0))


def below_constant(a: Envelope, level: float) -> float:
    """The log compute from which A's frontier is below a constant loss (a count model's): NaN when it never is
    within its runs, -inf when it already is at its cheapest run."""
    if a.loss[0] < level:
        return -math.inf
    if a.loss[-1] >= level:
        return math.nan
    k = int(np.flatnonzero(a.loss < level)[0])
    x0, x1, y0, y1 = a.log_c[k - 1], a.log_c[k], a.loss[k - 1], a.loss[k]
    return float(x0 + (x1 - x0) * (y0 - level) / (y0 - y1))
