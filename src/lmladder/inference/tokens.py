"""Every predicted token of a text, one by one: its exact NLL (the same rows and the same loss as
`scoring.score_tokens`, so the NLLs sum to its total), the probability the model gave it and the model's most likely
predictions at that point. What `lmladder diff` colours and shows on hover."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..autograd import functional as F
from ..autograd import no_grad
from ..data.batching import IGNORE_INDEX, eval_batches, eval_plan
from ..models.base import LanguageModel
from ..progress import progress_bar

TOP = 3  # predictions kept per position
TOP_CELLS = 1 << 20  # probabilities ranked at once (positions x vocabulary): a batch of 32 x 256 positions over a
# 50k vocabulary would be 3 GB of float64 and int64 copies at a time
TOP_BYTES = 24 * TOP_CELLS  # those copies (float64 logits, probabilities, int64 ranks): 25 MB at most


@dataclass
class TokenScores:
    nll: np.ndarray  # (N-1,) float64: NLL of each target tokens[1:], nats
    top_ids: np.ndarray  # (N-1, TOP) int32: the model's most likely next tokens at each target, best first
    top_p: np.ndarray  # (N-1, TOP) float32: their probabilities


def token_scores(
    model: LanguageModel, tokens: np.ndarray, *, boundary_id: int | None, seq_len: int | None = None,
    batch_size: int = 32, top: int = TOP, progress: bool = False,
) -> TokenScores:  # fmt: skip
    """Score every target tokens[1:] as `score_tokens` does (its rows: `eval_plan`) and keep the details.
    `progress`: a bar over the scored tokens on stderr."""
    tokens = np.asarray(tokens)
    kind, T = "stream" if boundary_id is None else "lines", model.window(seq_len)
    starts = eval_plan(tokens, kind=kind, boundary_id=boundary_id, seq_len=T)[0]
    n = len(tokens) - 1
    k = min(top, model.vocab_size)
    out = TokenScores(np.full(n, np.nan), np.zeros((n, k), np.int32), np.zeros((n, k), np.float32))
    batches = eval_batches(tokens, kind=kind, boundary_id=boundary_id, seq_len=T, batch_size=batch_size)
    with model.evaluating(), no_grad(), progress_bar(n, enabled=progress, unit="tok") as bar:
        for i, (x, y) in enumerate(batches):
            logits, _ = model(x)  # (B, W, V)
            per = F.cross_entropy(logits, y, ignore_index=IGNORE_INDEX, reduction="none").data  # (B, W)
            keep = y != IGNORE_INDEX
            start = starts[i * batch_size : (i + 1) * batch_size]  # (B,)
            pos = (start[:, None] + np.arange(y.shape[1]))[keep]  # (n_kept,) index of each kept target
            out.nll[pos] = per[keep]
            kept = logits.data[keep]  # (n_kept, V)
            step = max(TOP_CELLS // kept.shape[1], 1)
            for a in range(0, len(pos), step):
                out.top_ids[pos[a : a + step]], out.top_p[pos[a : a + step]] = _top(kept[a : a + step], k)
            bar.update(len(pos))
    return out


def _top(logits: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(ids, probabilities) (n, k) of the k most likely tokens of each row of logits (n, V), best first."""
    z = logits.astype(np.float64)
    p = np.exp(z - z.max(axis=-1, keepdims=True))
    p /= p.sum(axis=-1, keepdims=True)
    best = np.argsort(-p, axis=-1, kind="stable")[:, :k]  # (n, k)
    return best, np.take_along_axis(p, best, axis=-1)
