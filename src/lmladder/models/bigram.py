"""The count n-gram model: the bottom rung of the ladder (makemore's bigram, generalised to any order).

Over the order-1 previous tokens c, fitted by counting, never by gradient descent, with one of two smoothings:

- add_k: P(t | c) = (count(c, t) + k) / (count(c) + k V) (add-k / Laplace smoothing; Jurafsky & Martin, Speech and
  Language Processing, ch. 3).
- kneser_ney: interpolated modified Kneser-Ney (Chen & Goodman, An Empirical Study of Smoothing Techniques for
  Language Modeling, 1998, section 3):
      P_m(t | c) = (a(c, t) - D(a(c, t))) / a(c) + gamma(c) P_{m-1}(t | c'),   c' = c without its oldest token,
      gamma(c) = (D1 N1(c.) + D2 N2(c.) + D3+ N3+(c.)) / a(c),
  with a = raw counts at the top order and continuation counts N1+(. c t) below it, D(a) = D1, D2 or D3+ for
  a = 1, 2, >= 3 (estimated per order, or one fixed `discount`), P_0 = 1/V, and a context never seen falling
  through to the next lower order.

Counts are sparse (models/bigram_counts.py): memory grows with the distinct n-grams seen, not V ** order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..autograd import Tensor
from ..data.batching import context_windows, contexts
from ..nn.module import StateDictError
from ..rules import check_fields, choice, integer, number
from .base import LOG_ZERO, LanguageModel, ModelConfigError, check_ids
from .bigram_counts import (
    FALLBACK_DISCOUNTS,
    check_arrays,
    child_runs,
    continuation_levels,
    count,
    discounts,
    kn_level,
    lookup,
    scatter_index,
)

MAX_ORDER = 16  # beyond this nearly every training context is unique: the model only memorises the text
FIT_BYTES = 24  # a fit's peak is about FIT_BYTES * (order + 1) bytes per training token (benchmarks/bench_ngram.py)
SMOOTHINGS = ("add_k", "kneser_ney")


@dataclass
class NGramConfig:
    """The count model's settings: `bigram.model` in conf/, and what its checkpoints store."""

    order: int = integer(2, low=1)  # 1 = unigram, 2 = bigram, 3 = trigram, ... up to MAX_ORDER
    smoothing: str = choice("add_k", SMOOTHINGS)
    k: float = number(1.0, low=0, note="add-k's pseudo-count; 0 = raw counts")
    # kneser_ney: null = modified KN's estimated D1, D2, D3+; or one in (0, 1)
    discount: float | None = number(None, above=0, below=1, null="for the estimated modified Kneser-Ney discounts")
    vocab_size: int | None = integer(None, low=1, null="(set from the data)")
    pad_id: int = integer(0, low=0)  # from the data: the boundary of a lines corpus, else 0
    boundary_id: int | None = integer(None, low=0, null="")  # from the data: a lines corpus's boundary

    def check(self) -> None:
        check_fields(self, ModelConfigError)
        if self.order > MAX_ORDER:  # floats: a hostile order must not build a huge integer
            per_token = FIT_BYTES * (float(self.order) + 1)
            raise ModelConfigError(
                f"order={self.order} exceeds {MAX_ORDER}: fitting needs about {per_token:.3g} bytes per training "
                f"token ({per_token / 1e3:.3g} GB for 1M tokens) and contexts that long are nearly all unique; "
                f"use order <= {MAX_ORDER}"
            )
        if self.vocab_size is not None:
            check_ids(self, "pad_id", "boundary_id")


class NGram(LanguageModel):
    """Smoothed count model over the previous order-1 tokens, left-padded with pad_id.

    With add_k and k=0 an unseen (context, target) pair scores LOG_ZERO (loss ~1e30, i.e. infinite perplexity),
    and a context never seen at all falls back to the uniform distribution.
    """

    rung, ladder_position = "bigram", 10
    Config = NGramConfig
    trainable = False
    sized_by_data = True

    # rng and dtype are accepted so every rung is built alike: counting draws nothing, and scores are float64
    def __init__(self, config: NGramConfig, *, rng: np.random.Generator | None = None, dtype=None):
        super().__init__(config)
        c = config
        self.order, self.smoothing, self.k, self.discount = c.order, c.smoothing, float(c.k), c.discount
        self.pad_id, self.boundary_id = c.pad_id, c.boundary_id
        self.block_size = None  # any length: the context is only the last order-1 tokens
        empty = np.zeros(0, dtype=np.int64)
        self._set([empty] * (self.order - 1), empty, empty)

    def _set(self, levels: list[np.ndarray], keys: np.ndarray, counts: np.ndarray) -> None:
        self.levels, self.keys, self.counts = levels, keys, counts  # see bigram_counts.py for the layout
        self._tables = self._level_tables()  # built now, so a fit's time includes them

    @classmethod
    def min_params(cls, c: NGramConfig) -> float:
        return 0.0  # the arrays grow with the data: nothing to bound from the config alone

    def num_parameters(self) -> int:
        return sum(a.size for a in self.state_dict().values())

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
        ctx, tgt = contexts(tokens, self.order - 1, self.pad_id, self.boundary_id)  # (N-1, order-1), (N-1,)
        self._set(*count(ctx, tgt, self.vocab_size))
        return self

    def _level_tables(self) -> list[tuple]:
        """add_k: [(runs, targets, counts)] of the top order; kneser_ney: kn_level's tables of orders 1..order."""
        V, sizes = self.vocab_size, [1] + [len(a) for a in self.levels]  # contexts per level, root first
        if self.smoothing == "add_k":
            return [(child_runs(self.keys, V, sizes[-1]), self.keys % V, self.counts)]
        tables, d = [], FALLBACK_DISCOUNTS
        for (k, c), n in zip(continuation_levels(self.levels, self.keys, self.counts, V), sizes, strict=True):
            d = discounts(c, self.discount, fallback=d)  # orders 1..order: a meaningless estimate takes the one below's
            tables.append(kn_level(k, c, V, n, d))
        return tables

    def _log_probs(self, ids: np.ndarray) -> np.ndarray:
        """(U, order) context ids (lookup's) -> (U, V) log P(target | context)."""
        V = self.vocab_size
        if self.smoothing == "add_k":
            ((runs, targets, counts),) = self._tables
            r = np.flatnonzero(ids[:, -1] >= 0)
            rows, pos = scatter_index(runs, ids[r, -1])
            c = np.zeros((len(ids), V))
            c[r[rows], targets[pos]] = counts[pos]  # the dense rows of the counts table that are asked for
            c += self.k
            total = c.sum(axis=1, keepdims=True)
            ratio = c / np.where(total > 0, total, 1)
            tiny = (c > 0) & (ratio == 0)  # a tiny k (1e-320) underflows the ratio to 0, whose log is -inf
            with np.errstate(divide="ignore"):
                logp = np.where(c > 0, np.log(ratio), LOG_ZERO)
                if tiny.any():
                    logp[tiny] = (np.log(np.where(tiny, c, 1)) - np.log(total))[tiny]
            logp[total[:, 0] == 0] = -np.log(V)  # a context never seen (only possible with k=0)
            return logp
        out = np.empty((len(ids), V))
        p = np.full((1, V), 1.0 / V)  # P_{m-1} of each distinct context still in play; P_0 is uniform
        live, at = np.arange(len(ids)), np.zeros(len(ids), dtype=np.int64)  # rows in play and their line of p
        for m, (runs, targets, disc, total, gamma_num) in enumerate(self._tables, start=1):
            col = ids[live, m - 1]  # each live row's (m-1)-token context
            seen = col >= 0
            seen[seen] = total[col[seen]] > 0  # (an unfitted model has seen no root either)
            out[live[~seen]] = p[at[~seen]]  # a context never seen falls through: the row keeps P_{m-1}
            live, at = live[seen], at[seen]
            c, first, at_c = np.unique(col[seen], return_index=True, return_inverse=True)  # each context once
            q = p[at[first]] * (gamma_num[c] / total[c])[:, None]  # gamma(c) P_{m-1}(. | c')
            rows, pos = scatter_index(runs, c)
            q.reshape(-1)[rows * V + targets[pos]] += disc[pos] / total[c[rows]]  # + (a - D) / a(c)
            p, at = q, at_c.reshape(-1)
        out[live] = p[at]
        return np.log(out)

    def context_log_probs(self, ctx: np.ndarray, visible: np.ndarray) -> np.ndarray:
        """(R, order-1) contexts (as context_windows builds them) -> (R, V) log P(next | context) when only the
        `visible` (R,) most recent tokens of each row may be used: order-1 gives forward's scores, fewer gives the
        lower-order distribution P_{visible+1} that Kneser-Ney interpolates with (for add_k: uniform)."""
        ids = lookup(self.levels, np.asarray(ctx, dtype=np.int64).reshape(len(ctx), self.order - 1), self.vocab_size)
        ids[np.arange(self.order) > np.asarray(visible)[:, None]] = -1  # a context not seen falls through
        return self._log_probs(ids)

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
        B, T = ctx.shape[:2]
        ids = lookup(self.levels, ctx.reshape(B * T, self.order - 1), self.vocab_size)  # (B*T, order)
        # the longest seen context decides a row's distribution: compute each distinct one once
        depth = (ids >= 0).sum(axis=1) - 1
        start = np.cumsum([0, 1] + [len(a) for a in self.levels])  # first id of each level in one numbering
        node = start[depth] + ids[np.arange(B * T), depth]  # (B*T,) the longest seen context of each row
        _, first, inverse = np.unique(node, return_index=True, return_inverse=True)
        logp = self._log_probs(ids[first])[inverse.reshape(-1)]  # (B*T, V)
        logits = Tensor(logp.reshape(B, T, self.vocab_size))  # (B, T, V), log P(next | last order-1 tokens)
        return logits, None if targets is None else self.loss(logits, targets)

    def state_dict(self) -> dict[str, np.ndarray]:
        levels = {f"context{j}": a for j, a in enumerate(self.levels, start=1)}
        return {**levels, "ngrams": self.keys, "counts": self.counts}

    def load_state_dict(self, state: dict[str, np.ndarray], strict: bool = True) -> None:
        want = list(self.state_dict())
        if set(state) != set(want):
            raise StateDictError(
                f"NGram.load_state_dict: expected keys {sorted(want)}, got {sorted(state)}; load a bigram "
                f"checkpoint of order {self.order}"
            )
        arrays = [np.asarray(state[name]) for name in want]
        check_arrays(arrays[:-2], arrays[-2], arrays[-1], self.vocab_size)
        self._set([a.copy() for a in arrays[:-2]], arrays[-2].copy(), arrays[-1].copy())
