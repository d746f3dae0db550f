"""Is a difference real? The paired bootstrap over scoring units (Koehn 2004) and Welch's t-test over seeds.

Both models are scored on the same units (documents or character blocks, inference/units.py). A resample draws
U units with replacement, the SAME draw for both sides (that is the pairing: a hard document is hard for both), and
recomputes each side's mean NLL per token (sum of NLL / sum of tokens over the drawn units) and bits per character;
the statistic is B − A. The 95% interval is the 2.5th and 97.5th percentiles of RESAMPLES such statistics; the
two-sided p-value is twice the share of resamples on the far side of zero (capped at 1). With several seeds a side's
unit NLL is the mean over its seeds, so the interval is over text, not over seeds; Welch's t-test (unequal
variances) over the per-seed scores answers the other question, whether another seed would change the ranking.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import numpy as np

from ..inference.units import SplitUnits

RESAMPLES = 10_000
SEED = 29  # fixed: the same inputs print the same interval
ALPHA = 0.05
MIN_UNITS = 20  # fewer shared units: a resample draws the same few units again and again (one unit: a zero-width
# interval and p = 0), so there is no interval and no verdict
_CHUNK = 500  # resamples drawn at once: a (500, U) count matrix stays small even for 3,000 documents
# Draws kept for the next call with the same units, resamples and seed (the same counts: the seed is fixed), one byte
# a count: a report's intervals and paired tests of one split all draw the same units (4 + 3 draws of 10,000 x 3,200
# names for the pipeline's val split), and drawing costs more than using the draws
KEEP_BYTES = 1 << 27
_kept: dict[tuple[int, int, int], list[np.ndarray]] = {}


def too_few(units: int) -> str | None:
    """Why `units` shared units give no interval and no verdict (fewer than MIN_UNITS), or None when they do."""
    return f"too few units ({units} < {MIN_UNITS})" if units < MIN_UNITS else None


def pool(runs: Sequence[SplitUnits]) -> np.ndarray:
    """(U, 3): per unit, the NLL sum, tokens and characters, each the mean over the seeds in `runs`."""
    return np.mean([np.stack([u.nll, u.tokens, u.chars], axis=1) for u in runs], axis=0)


def resampled_sums(values: np.ndarray, *, resamples: int = RESAMPLES, seed: int = SEED) -> np.ndarray:
    """(U, k) per-unit values -> (resamples, k) column sums over `resamples` bootstrap draws of the U units."""
    out = [counts @ values for counts in _draws(len(values), resamples, seed)]  # (r, U) @ (U, k) -> (r, k)
    return np.concatenate(out) if out else np.zeros((0, values.shape[1]))


def _draws(n_units: int, resamples: int, seed: int) -> Iterator[np.ndarray]:
    """(r, U) float64 counts: how often each unit is drawn in each resample (each row sums to U)."""
    key = (n_units, resamples, seed)
    if key in _kept:
        yield from (counts.astype(np.float64) for counts in _kept[key])
        return
    rng = np.random.default_rng(seed)
    keep: list[np.ndarray] | None = [] if n_units * resamples <= KEEP_BYTES else None
    for start in range(0, resamples, _CHUNK):
        r = min(_CHUNK, resamples - start)
        picks = rng.integers(0, n_units, size=(r, n_units)) + n_units * np.arange(r)[:, None]  # (r, U) flat ids
        counts = np.bincount(picks.ravel(), minlength=r * n_units).reshape(r, n_units)
        if keep is not None and counts.max() > np.iinfo(np.uint8).max:
            keep = None  # a unit drawn 256 times in one resample (a few units in all): no room in a byte
        if keep is not None:
            keep.append(counts.astype(np.uint8))
        yield counts.astype(np.float64)
    if keep is not None:
        _kept[key] = keep
        while sum(c.nbytes for chunks in _kept.values() for c in chunks) > KEEP_BYTES:
            del _kept[next(iter(_kept))]  # the oldest first


def interval(stats: np.ndarray) -> tuple[float, float]:
    """The 95% percentile interval of bootstrap statistics (R,)."""
    lo, hi = np.percentile(stats, [100 * ALPHA / 2, 100 * (1 - ALPHA / 2)])
    return float(lo), float(hi)


def p_value(stats: np.ndarray) -> float:
    """Two-sided: twice the share of resampled differences on the far side of zero (1 when they are all 0)."""
    return float(min(1.0, 2 * min(np.mean(stats <= 0), np.mean(stats >= 0))))


def nll_interval(pooled: np.ndarray, *, resamples: int = RESAMPLES, seed: int = SEED) -> tuple[float, float]:
    """95% interval of one side's mean NLL per token, from `pool`'s (U, 3)."""
    sums = resampled_sums(pooled[:, :2], resamples=resamples, seed=seed)  # (R, 2)
    return interval(sums[:, 0] / sums[:, 1])


def paired(a: np.ndarray, b: np.ndarray, *, resamples: int = RESAMPLES, seed: int = SEED) -> dict[str, float]:
    """B − A on shared units (`pool` outputs of equal U): Δ, interval and p-value of mean NLL and of bits/char."""
    sums = resampled_sums(np.concatenate([a, b], axis=1), resamples=resamples, seed=seed)  # (R, 6)
    out = {}
    for name, den, scale in (("nll", 1, 1.0), ("bpc", 2, 1 / math.log(2))):
        delta = scale * (b[:, 0].sum() / b[:, den].sum() - a[:, 0].sum() / a[:, den].sum())
        stats = scale * (sums[:, 3] / sums[:, 3 + den] - sums[:, 0] / sums[:, den])  # (R,)
        lo, hi = interval(stats)
        out |= {f"{name}_delta": float(delta), f"{name}_lo": lo, f"{name}_hi": hi, f"{name}_p": p_value(stats)}
    return out


def welch(mean_a: float, std_a: float, n_a: int, mean_b: float, std_b: float, n_b: int) -> tuple[float, float]:
    """Welch's two-sided t-test from summary statistics (std with ddof=1): (t, p). Needs n >= 2 on each side."""
    va, vb = std_a**2 / n_a, std_b**2 / n_b
    if va + vb == 0:  # no spread at all: equal means are the same, any difference is certain
        return (0.0, 1.0) if mean_a == mean_b else (math.copysign(math.inf, mean_b - mean_a), 0.0)
    t = (mean_b - mean_a) / math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va**2 / (n_a - 1) + vb**2 / (n_b - 1))
    return t, _betainc(df / 2, 0.5, df / (df + t * t))  # P(|T| >= |t|) for Student's t with df degrees


def verdict(delta: float, p_boot: float, p_welch: float | None = None, welch_delta: float | None = None) -> str:
    """ "better" / "worse" (B against A, lower NLL is better) when every test that applies has p < ALPHA and
    agrees on the direction; else "not significant"."""
    significant = p_boot < ALPHA and delta != 0
    if p_welch is not None:
        significant = significant and p_welch < ALPHA and (welch_delta or 0) * delta > 0
    return ("better" if delta < 0 else "worse") if significant else "not significant"


def _betainc(a: float, b: float, x: float) -> float:
    """Regularised incomplete beta I_x(a, b) by Lentz's continued fraction (Numerical Recipes' betacf)."""
    if x <= 0 or x >= 1:
        return 0.0 if x <= 0 else 1.0
    if x > (a + 1) / (a + b + 2):  # the fraction converges fast on this side, slowly on the other
        return 1.0 - _betainc(b, a, 1 - x)
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)) / a
    tiny, f, c, d = 1e-300, 1.0, 1.0, 0.0
    for i in range(400):
        m = i // 2
        if i == 0:
            num = 1.0
        elif i % 2 == 0:
            num = m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m))
        else:
            num = -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))
        d = 1 + num * d
        d = 1 / (d if abs(d) > tiny else tiny)
        c = 1 + num / c if abs(1 + num / c) > tiny else tiny
        f *= c * d
        if abs(1 - c * d) < 1e-15:
            break
    return front * (f - 1)
