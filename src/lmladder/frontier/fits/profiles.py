"""isoFLOP (and iso-second) profiles (Chinchilla's approach 2): at one budget, the loss of each model size as a
parabola in log N; its vertex is the size the budget is best spent on, N*(C), and its loss L*(C).

The parabola is fitted to the best size (lowest mean loss) and up to WINDOW sizes on each side of it, where the
profile is close to one. A vertex outside those sizes is an extrapolation (approach 2 is biased when the sizes sit
off-centre around the optimum): it is reported, flagged, and left out of the power laws."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

WINDOW = 2  # sizes on each side of the best one the parabola is fitted to: the profile is a parabola only locally


@dataclass(frozen=True)
class Profile:
    """One budget's parabola L = a (log N)^2 + b log N + c, or `note` saying why there is none."""

    n_sizes: int
    coef: tuple[float, float, float] = (math.nan, math.nan, math.nan)
    log_n_star: float = math.nan  # the vertex, natural log of N
    loss_star: float = math.nan
    log_d_star: float = math.nan  # tokens trained at the vertex, interpolated between the sizes' runs
    inside: bool = False  # the vertex lies within the sizes measured
    note: str = ""

    @property
    def usable(self) -> bool:
        return self.inside and math.isfinite(self.log_n_star)


def fit_profile(log_n: np.ndarray, loss: np.ndarray, log_d: np.ndarray) -> Profile:
    """The parabola through the runs of one budget (every seed a point): log N, loss, log tokens trained."""
    sizes = np.unique(log_n)
    if len(sizes) < 3:
        return Profile(len(sizes), note=f"{len(sizes)} size(s): a parabola needs 3 or more")
    means = np.array([loss[log_n == s].mean() for s in sizes])
    best = int(np.argmin(means))
    lo, hi = max(0, best - WINDOW), min(len(sizes), best + WINDOW + 1)
    lo, hi = (0, 3) if hi < 3 else ((len(sizes) - 3, len(sizes)) if lo > len(sizes) - 3 else (lo, hi))
    near = (log_n >= sizes[lo]) & (log_n <= sizes[hi - 1])  # the best size and WINDOW neighbours on each side
    a, b, c = np.polyfit(log_n[near], loss[near], 2)
    sizes = sizes[lo:hi]
    if not a > 0:
        return Profile(
            len(sizes), (a, b, c), note="not convex (no minimum inside the sizes): add sizes past the best one"
        )
    x = -b / (2 * a)
    inside = bool(sizes[0] <= x <= sizes[-1])
    tokens = [log_d[log_n == s].mean() for s in sizes]  # (tokens trained per size, ascending in N)
    log_d_star = float(np.interp(x, sizes, tokens)) if inside else math.nan
    note = "" if inside else "vertex outside the sizes measured (extrapolated; left out of the power laws)"
    return Profile(len(sizes), (a, b, c), float(x), float(c - b * b / (4 * a)), log_d_star, inside, note)


def power_law(log_c: np.ndarray, log_y: np.ndarray) -> tuple[float, float]:
    """(exponent, log prefactor) of y = k C^exponent by least squares in log-log; NaN with fewer than 2 budgets."""
    if len(np.unique(log_c)) < 2:
        return math.nan, math.nan
    slope, intercept = np.polyfit(log_c, log_y, 1)
    return float(slope), float(intercept)
