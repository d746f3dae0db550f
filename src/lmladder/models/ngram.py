"""The count n-gram model: the bottom rung of the ladder (makemore's bigram, generalised to any order).

P(t | c) = (count(c, t) + k) / (count(c) + k V) over the order-1 previous tokens c ("add-k" / Laplace smoothing;
Jurafsky & Martin, Speech and Language Processing, ch. 3). Fitted by counting, never by gradient descent.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..autograd import Tensor
from ..data.batching import context_windows, contexts
from ..nn.module import StateDictError
from .base import LanguageModel, ModelConfigError, is_size

MAX_TABLE = 5e7  # dense counts table entries (V ** order); 65 ** 4 fits, 65 ** 5 does not
LOG_ZERO = -1e30  # log-prob of a never-seen pair when smoothing=0: finite, so ignored targets never yield nan


class NGram(LanguageModel):
    """Add-k smoothed count model over the previous order-1 tokens, left-padded with pad_id.

    With smoothing=0 an unseen (context, target) pair scores LOG_ZERO (loss ~1e30, i.e. infinite perplexity), and
    a context never seen at all falls back to the uniform distribution.
    """

    kind = "ngram"
    trainable = False

    def __init__(
        self,
        vocab_size: int,
        order: int = 2,
        smoothing: float = 1.0,
        pad_id: int = 0,
        boundary_id: int | None = None,
        rng: np.random.Generator | None = None,  # unused: accepted so every rung is built alike
        dtype=None,  # unused: counts are always float64
    ):
        if not is_size(vocab_size):
            raise ModelConfigError(f"NGram: vocab_size must be a positive int, got {vocab_size!r}")
        if not is_size(order):
            raise ModelConfigError(f"NGram: order must be an int >= 1 (1 = unigram, 2 = bigram), got {order!r}")
        if not smoothing >= 0:
            raise ModelConfigError(f"NGram: smoothing must be >= 0 (add-k counts), got {smoothing!r}")
        for name, v in (("pad_id", pad_id), ("boundary_id", boundary_id)):
            if v is not None and not 0 <= v < vocab_size:
                raise ModelConfigError(f"NGram: {name}={v} outside [0, {vocab_size}); use an id of the vocabulary")
        if float(vocab_size) ** order > MAX_TABLE:
            fits = [o for o in range(1, order) if float(vocab_size) ** o <= MAX_TABLE]
            raise ModelConfigError(
                f"NGram: vocab_size**order = {vocab_size}**{order} = {float(vocab_size) ** order:.3g} dense counts "
                f"exceeds {MAX_TABLE:.0e}; " + (f"use order <= {fits[-1]}" if fits else "use a smaller vocabulary")
            )
        self.vocab_size, self.order, self.smoothing = int(vocab_size), int(order), float(smoothing)
        self.pad_id, self.boundary_id = int(pad_id), None if boundary_id is None else int(boundary_id)
        self.block_size = None  # any length: the context is only the last order-1 tokens
        self.counts = np.zeros((self.vocab_size,) * self.order, dtype=np.float64)
        self._logp: np.ndarray | None = None  # cached (V**(order-1), V) log-prob table

    def config(self) -> dict[str, Any]:
        return {
            "vocab_size": self.vocab_size,
            "order": self.order,
            "smoothing": self.smoothing,
            "pad_id": self.pad_id,
            "boundary_id": self.boundary_id,
        }

    # ------------------------------------------------------------------ fitting
    def fit(self, tokens: np.ndarray) -> NGram:
        """Replace the counts with those of every (context, target) pair of a training split, using the same
        convention as `contexts` (so evaluating with it, or with forward on eval_batches, agrees)."""
        tokens = np.asarray(tokens)
        if tokens.ndim != 1 or len(tokens) < 2:
            raise ModelConfigError(f"NGram.fit: needs a 1-D split of >= 2 token ids, got shape {tokens.shape}")
        if tokens.min() < 0 or tokens.max() >= self.vocab_size:
            raise ModelConfigError(
                f"NGram.fit: token ids span [{tokens.min()}, {tokens.max()}] but vocab_size={self.vocab_size}; "
                "build the model with the prepared data's vocab size"
            )
        ctx, tgt = contexts(tokens, self.order - 1, self.pad_id, self.boundary_id)
        flat = self._flat(np.concatenate([ctx, tgt[:, None]], axis=1))  # (N-1,) index into counts.ravel()
        self.counts = np.bincount(flat, minlength=self.counts.size).astype(np.float64).reshape(self.counts.shape)
        self._logp = None
        return self

    def _flat(self, ids: np.ndarray) -> np.ndarray:
        """(..., m) ids -> (...,) row-major index into a (V,)*m table."""
        flat = np.zeros(ids.shape[:-1], dtype=np.int64)
        for j in range(ids.shape[-1]):
            flat = flat * self.vocab_size + ids[..., j]
        return flat

    def log_probs(self) -> np.ndarray:
        """(V**(order-1), V) table of log P(target | context), context flattened row-major."""
        if self._logp is None:
            V = self.vocab_size
            c = self.counts.reshape(-1, V) + self.smoothing  # (V**(order-1), V)
            total = c.sum(axis=1, keepdims=True)
            with np.errstate(divide="ignore", invalid="ignore"):
                logp = np.where(c > 0, np.log(c / np.where(total > 0, total, 1)), LOG_ZERO)
            logp[total[:, 0] == 0] = -np.log(V)  # a context never seen (only possible with smoothing=0)
            self._logp = logp
        return self._logp

    # ------------------------------------------------------------------ the contract
    def forward(self, idx, targets=None) -> tuple[Tensor, Tensor | None]:
        idx = self.check_input(idx)
        if idx.size and (idx.min() < 0 or idx.max() >= self.vocab_size):
            raise ModelConfigError(
                f"NGram.forward: ids span [{idx.min()}, {idx.max()}] outside [0, {self.vocab_size}); "
                "encode with the model's own vocabulary"
            )
        ctx = context_windows(idx, self.order - 1, self.pad_id, self.boundary_id)  # (B, T, order-1)
        logits = Tensor(self.log_probs()[self._flat(ctx)])  # (B, T, V), log P(next | last order-1 tokens)
        return logits, None if targets is None else self.loss(logits, targets)

    def state_dict(self) -> dict[str, np.ndarray]:
        return {"counts": self.counts}

    def load_state_dict(self, state: dict[str, np.ndarray], strict: bool = True) -> None:
        if set(state) != {"counts"}:
            raise StateDictError(
                f"NGram.load_state_dict: expected keys ['counts'], got {sorted(state)}; load an ngram checkpoint"
            )
        counts = np.asarray(state["counts"])
        if counts.shape != self.counts.shape:
            raise StateDictError(
                f"NGram.load_state_dict: counts shape expected {self.counts.shape}, got {counts.shape}; build the "
                "model with the checkpoint's vocab_size and order"
            )
        self.counts = counts.astype(np.float64, copy=True)
        self._logp = None
