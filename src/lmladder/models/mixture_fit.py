"""The mixture rung's numbers (models/mixture.py): log(lam p + (1 - lam) q), the lam that maximises a text's
likelihood, the cross-fitted score, the train split's holdout tail, and each component's log-probabilities of a
text's targets in the windows exact scoring uses."""

from __future__ import annotations

import numpy as np

from ..autograd import Tensor, no_grad
from ..autograd import functional as F
from ..data.batching import IGNORE_INDEX, eval_batches
from .base import LanguageModel, ModelConfigError

BATCH = 32  # rows per forward when scoring the text lam is fitted on, as a run scores val and test


def mix(log_p: np.ndarray, log_q: np.ndarray, lam: float) -> np.ndarray:
    """log(lam p + (1 - lam) q) from log p and log q: exactly log p at lam = 1 and log q at lam = 0."""
    with np.errstate(divide="ignore"):  # log(0) = -inf: that component drops out
        return np.logaddexp(np.log(lam) + log_p, np.log1p(-lam) + log_q)


def best_lambda(log_p: np.ndarray, log_q: np.ndarray) -> float:
    """The lam in [0, 1] that maximises sum log(lam p + (1 - lam) q) over the targets (p, q: each component's
    probability of each target). The sum is concave in lam, so its slope sum (p - q) / (lam p + (1 - lam) q) falls
    as lam grows: bisection finds where it crosses 0, or the end where it keeps one sign."""
    p, q = np.exp(log_p), np.exp(log_q)
    p, q = p[(p > 0) | (q > 0)], q[(p > 0) | (q > 0)]  # a target both give 0 is lost whatever lam is

    def slope(lam: float) -> float:
        with np.errstate(divide="ignore", invalid="ignore"):
            return float(np.sum((p - q) / (lam * p + (1 - lam) * q)))

    if slope(0.0) <= 0:
        return 0.0
    if slope(1.0) >= 0:
        return 1.0
    lo, hi = 0.0, 1.0
    for _ in range(60):  # 2^-60: past float64's resolution of a lam in (0, 1)
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if slope(mid) > 0 else (lo, mid)
    return 0.5 * (lo + hi)


def cross_fitted(log_p: np.ndarray, log_q: np.ndarray) -> float:
    """The mean NLL of the targets with each half's lam fitted on the other half: a score no target's own
    probability chose its lam for."""
    h = len(log_p) // 2
    first, second = best_lambda(log_p[:h], log_q[:h]), best_lambda(log_p[h:], log_q[h:])
    total = np.sum(mix(log_p[:h], log_q[:h], second)) + np.sum(mix(log_p[h:], log_q[h:], first))
    return -float(total) / len(log_p)


def holdout_split(tokens: np.ndarray, fraction: float, boundary_id: int | None) -> tuple[np.ndarray, np.ndarray]:
    """(head, tail): the tail is the last `fraction` of a train split, from a document boundary in a lines corpus.
    head[-1] is tail[0], so each target of the split is in exactly one of them."""
    n = len(tokens)
    cut = int(n * (1 - fraction))
    if boundary_id is not None:
        later = np.flatnonzero(np.asarray(tokens[cut:]) == boundary_id)
        cut = cut + int(later[0]) if later.size else n - 1
    if cut < 1 or n - cut < 2:
        raise ModelConfigError(
            f"holdout={fraction} of a {n:,}-token train split leaves "
            f"{'nothing to count the n-gram on' if cut < 1 else 'no tail to fit lam on'}; change holdout=, fix lam= "
            "yourself, or use a longer train split"
        )
    return tokens[: cut + 1], tokens[cut:]


def log_probs(model: LanguageModel, idx: np.ndarray, last_only: bool = False) -> np.ndarray:
    """(B, T, V) float64 log-probabilities of `model`'s next-token distributions, no graph."""
    with no_grad():
        logits = model(idx, last_only=last_only)[0].data
        return F.log_softmax(Tensor(logits.astype(np.float64))).data


def target_log_probs(model: LanguageModel, tokens: np.ndarray, boundary_id: int | None, seq_len: int):
    """log p(target) of each predicted token of `tokens` under `model`, in order: the windows exact scoring uses."""
    kind = "stream" if boundary_id is None else "lines"
    out = []
    for x, y in eval_batches(tokens, kind=kind, boundary_id=boundary_id, seq_len=seq_len, batch_size=BATCH):
        keep = y != IGNORE_INDEX
        lp = log_probs(model, x)  # (B, T, V)
        out.append(np.take_along_axis(lp, np.where(keep, y, 0)[..., None], axis=-1)[..., 0][keep])
    return np.concatenate(out)
