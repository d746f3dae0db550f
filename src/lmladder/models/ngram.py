"""The count n-gram model: the bottom rung of the ladder (makemore's bigram, generalised to any order).

P(t | c) = (count(c, t) + k) / (count(c) + k V) over the order-1 previous tokens c ("add-k" / Laplace smoothing;
Jurafsky & Martin, Speech and Language Processing, ch. 3). Fitted by counting, never by gradient descent.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..autograd import Tensor
from ..data.batching import context_windows, contexts
from ..nn.module import StateDictError
from .base import LanguageModel, ModelConfigError, check_ids, check_sizes

MAX_TABLE = 5e7  # dense counts table entries (V ** order); 65 ** 4 fits, 65 ** 5 does not
LOG_ZERO = -1e30  # log-prob of a never-seen pair when smoothing=0: finite, so ignored targets never yield nan


@dataclass
class NGramConfig:
    """The count model's settings: `bigram.model` in conf/, and what its checkpoints store."""

    order: int = 2  # 1 = unigram, 2 = bigram, 3 = trigram, ...
    smoothing: float = 1.0  # k of add-k smoothing; 0 = raw counts
    vocab_size: int | None = None  # from the data
    pad_id: int = 0  # from the data: the boundary of a lines corpus, else 0
    boundary_id: int | None = None  # from the data: a lines corpus's boundary; no context crosses it

    def check(self) -> None:
        check_sizes(self, "order")
        if isinstance(self.smoothing, bool) or not isinstance(self.smoothing, int | float) or not self.smoothing >= 0:
            raise ModelConfigError(f"smoothing={self.smoothing!r} must be >= 0 (add-k counts)")
        if self.vocab_size is None:
            return
        check_ids(self, "pad_id", "boundary_id")
        V, log_max = self.vocab_size, math.log(MAX_TABLE)
        if self.order * math.log(V) > log_max:  # in logs: a hostile order must not overflow a float
            table = math.exp(min(self.order * math.log(V), 700))
            fits = int(log_max // math.log(V)) if V > 1 else 0
            raise ModelConfigError(
                f"order={self.order}: vocab_size**order = {V}**{self.order} = {table:.3g} dense counts exceeds "
                f"{MAX_TABLE:.0e}; " + (f"use order <= {fits}" if fits else "use a smaller vocabulary")
            )


class NGram(LanguageModel):
    """Add-k smoothed count model over the previous order-1 tokens, left-padded with pad_id.

    With smoothing=0 an unseen (context, target) pair scores LOG_ZERO (loss ~1e30, i.e. infinite perplexity), and
    a context never seen at all falls back to the uniform distribution.
    """

    kind = "ngram"
    Config = NGramConfig
    trainable = False

    # rng and dtype are accepted so every rung is built alike: counting draws nothing, and counts are float64
    def __init__(self, config: NGramConfig, *, rng: np.random.Generator | None = None, dtype=None):
        super().__init__(config)
        c = config
        self.order, self.smoothing = c.order, float(c.smoothing)
        self.pad_id, self.boundary_id = c.pad_id, c.boundary_id
        self.block_size = None  # any length: the context is only the last order-1 tokens
        self.counts = np.zeros((self.vocab_size,) * self.order, dtype=np.float64)
        self._logp: np.ndarray | None = None  # cached (V**(order-1), V) log-prob table

    @classmethod
    def min_params(cls, c: NGramConfig) -> float:
        # in logs first: a hostile order must not make Python build a huge integer
        return math.inf if c.order * math.log(max(c.vocab_size, 1)) > 100 else float(c.vocab_size**c.order)

    def num_parameters(self) -> int:
        return self.counts.size

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
    def forward(self, idx, targets=None, *, last_only=False) -> tuple[Tensor, Tensor | None]:
        idx = self.check_input(idx, targets, last_only)
        if last_only:  # the last position's context is its last order-1 tokens: (B, T) -> (B, 1)
            idx = idx[:, -max(self.order - 1, 1) :]
        if idx.size and (idx.min() < 0 or idx.max() >= self.vocab_size):
            raise ModelConfigError(
                f"NGram.forward: ids span [{idx.min()}, {idx.max()}] outside [0, {self.vocab_size}); "
                "encode with the model's own vocabulary"
            )
        ctx = context_windows(idx, self.order - 1, self.pad_id, self.boundary_id)  # (B, T, order-1)
        if last_only:
            ctx = ctx[:, -1:]
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
