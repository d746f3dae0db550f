"""Loss against the position in the context (Olsson et al. 2022; Khandelwal et al. 2018): how much context a rung
uses.

The split is cut into windows of the model's length T that do not overlap (`data.batching.window_plan`: a stream
into consecutive windows, a lines corpus each document, longer ones into windows too), and every column of every
window is scored, so the prediction at position p sees exactly p + 1 tokens (a name's position p: p letters of the
name after its start token). The curve is the mean exact NLL at each position; weighted by its counts it is the
mean NLL of that scoring: the split's exact NLL for a lines corpus whose documents fit the window, a little above it
for a stream (whose exact scoring gives every token after the first window at least T/2 tokens of context).

"Context used": the shortest context whose loss is within `tol` nats of the full window's. Single positions are
noisy (a stream of 100k tokens and T = 256 scores each position ~400 times), so the curve is read in bins of
doubling width (contexts 1, 2, 3-4, 5-8, ..., up to T): the full window's loss is the last bin's, and the context
used is the first context of the earliest bin from which every bin is within `tol` of it, or within the noise of
the difference (two standard errors, windows as the samples) where that is larger: different positions hold
different text, so on 100k characters two bins of one flat curve differ by a few hundredths of a nat by chance.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..autograd import functional as F
from ..autograd import no_grad
from ..data.batching import IGNORE_INDEX, window_batches
from ..models.base import LanguageModel

CONTEXT_TOL = 0.01  # nats: "within this of the full window's loss"


def bin_edges(T: int) -> list[tuple[int, int]]:
    """(first, last) context of each bin of a window of T: 1, 2, 3-4, 5-8, ..., up to T."""
    out, lo = [], 1
    while lo <= T:
        hi = min(max(2 * (lo - 1), lo), T)
        out.append((lo, hi))
        lo = hi + 1
    return out


@dataclass
class PositionCurve:
    nll: np.ndarray  # (T,) float64: summed NLL of the predictions at each position
    count: np.ndarray  # (T,) int64: predictions scored at each position
    # (bins, 3) float64: over the windows, the sums of S^2, S*n and n^2, where S and n are a window's summed NLL and
    # predictions in each bin: the variance of a bin's mean with windows as the samples (neighbouring characters
    # are hard together, so single predictions are not independent). None: no noise
    spread: np.ndarray | None = None

    @property
    def mean(self) -> np.ndarray:
        """(T,) mean NLL per position (NaN where nothing was scored)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.count > 0, self.nll / np.maximum(self.count, 1), np.nan)

    @property
    def mean_nll(self) -> float:
        """The positions' means weighted by their counts: the mean NLL of the whole scoring."""
        return float(self.nll.sum() / max(int(self.count.sum()), 1))

    def bins(self) -> list[tuple[int, int, float, int]]:
        """(first context, last context, mean NLL, count) for contexts 1, 2, 3-4, 5-8, ... (tokens seen)."""
        return [(lo, hi, m, n) for lo, hi, m, n, _ in self._bins()]

    def _bins(self) -> list[tuple[int, int, float, int, float]]:
        """`bins` with the variance of each bin's mean (0 without `spread`)."""
        out = []
        for b, (lo, hi) in enumerate(bin_edges(len(self.nll))):
            n = int(self.count[lo - 1 : hi].sum())
            if n:
                m = float(self.nll[lo - 1 : hi].sum() / n)
                s2, sn, n2 = (0.0, 0.0, 0.0) if self.spread is None else self.spread[b]
                out.append((lo, hi, m, n, max(s2 - 2 * m * sn + m * m * n2, 0.0) / n**2))
        return out

    def context_used(self, tol: float = CONTEXT_TOL) -> int:
        """The shortest context (tokens) from which the binned loss stays within `tol` nats of the full window's (or
        within two standard errors of the difference, where that is larger)."""
        bins = self._bins()
        if not bins:
            return 0
        full, full_var = bins[-1][2], bins[-1][4]
        used = bins[-1][0]
        for lo, _, mean, _, var in reversed(bins):
            if mean - full > max(tol, 2 * math.sqrt(var + full_var)):
                break
            used = lo
        return used


def position_curve(
    model: LanguageModel, tokens: np.ndarray, *, boundary_id: int | None, seq_len: int | None = None,
    batch_size: int = 32,
) -> PositionCurve:  # fmt: skip
    """Score `tokens` (one split) in `window_plan`'s windows of `model.window(seq_len)` and sum the NLL by position."""
    T = model.window(seq_len)
    kind = "stream" if boundary_id is None else "lines"
    nll, count = np.zeros(T), np.zeros(T, dtype=np.int64)
    starts = np.array([lo - 1 for lo, _ in bin_edges(T)])
    spread = np.zeros((len(starts), 3))
    batches = window_batches(np.asarray(tokens), kind=kind, boundary_id=boundary_id, seq_len=T, batch_size=batch_size)
    with model.evaluating(), no_grad():
        for x, y, _ in batches:
            logits, _ = model(x)
            per = F.cross_entropy(logits, y, ignore_index=IGNORE_INDEX, reduction="none").data  # (B, W)
            keep = y != IGNORE_INDEX  # (B, W)
            W = y.shape[1]
            kept = np.where(keep, per, 0.0).astype(np.float64)  # (B, W)
            nll[:W] += kept.sum(axis=0)
            count[:W] += keep.sum(axis=0)
            cut = starts[starts < W]
            S, n = np.add.reduceat(kept, cut, axis=1), np.add.reduceat(keep.astype(np.float64), cut, axis=1)  # (B, b)
            spread[: len(cut)] += np.stack([(S * S).sum(0), (S * n).sum(0), (n * n).sum(0)], axis=1)
    return PositionCurve(nll, count, spread)
