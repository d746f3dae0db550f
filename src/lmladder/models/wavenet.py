"""A WaveNet-style hierarchical MLP (van den Oord et al., 2016, "WaveNet: A Generative Model for Raw Audio"), as built
in Zero-to-Hero part 5 ("building makemore part 5"): the `context` embeddings are merged pairwise, level by level
(FlattenConsecutive(2) -> Linear -> BatchNorm1d -> tanh), so the tree of log2(context) levels sees every token."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .. import nn
from ..data.batching import IGNORE_INDEX
from ..rules import check_fields, integer
from .base import Counts, ModelConfigError, WindowModel, check_ids, hidden_linear, need_vocab, quiet_head


@dataclass
class WaveNetConfig:
    """The WaveNet's hyper-parameters: `wavenet.model` in conf/, and what its checkpoints store."""

    context: int = integer(8, low=1)  # tokens each prediction sees: a power of two, one merge level per doubling
    n_embd: int = integer(24, low=1)
    n_hidden: int = integer(128, low=1)
    vocab_size: int | None = integer(None, low=1, null="(set from the data)")
    pad_id: int = integer(0, low=0)  # from the data: the boundary of a lines corpus, else 0

    def check(self) -> None:
        check_fields(self, ModelConfigError)
        if self.context < 2 or self.context & (self.context - 1):
            raise ModelConfigError(
                f"context={self.context} must be a power of two >= 2 (each level of the tree merges pairs); "
                "use 2, 4, 8 or 16"
            )
        if self.vocab_size is not None:
            check_ids(self, "pad_id")

    def counts(self) -> Counts:
        """Parameters three ways and training FLOPs per token (models/base.py: Counts). Level i merges context / 2^(i+1)
        pairs for every token (no window shares its tree with its neighbour's), so its weights count that often."""
        V, E, H, K = need_vocab(self), self.n_embd, self.n_hidden, self.context
        fan_ins = [E] + [H] * (int(math.log2(K)) - 1)
        weights = [2 * f * H for f in fan_ins]  # each level's bias-free projection of a concatenated pair
        matmul = sum(weights) + H * V
        params = V * E + matmul + 2 * H * len(fan_ins) + V  # + lookup, BatchNorm's gain and shift, the head bias
        macs = sum(w * K // 2 ** (i + 1) for i, w in enumerate(weights)) + H * V
        return Counts(params, params - V * E, matmul, 6 * macs)


class Level(nn.Module):
    """One level of the tree: pairs of neighbours concatenated, a bias-free linear map (BatchNorm's shift is the
    bias), batch normalisation, tanh."""

    def __init__(self, fan_in: int, n_hidden: int, *, rng: np.random.Generator, dtype):
        self.merge = nn.FlattenConsecutive(2)
        # Zero-to-Hero's init, N(0, 1/fan_in) with no gain: BatchNorm fixes the scale that follows anyway
        self.proj = hidden_linear(2 * fan_in, n_hidden, bias=False, rng=rng, dtype=dtype)
        self.norm = nn.BatchNorm1d(n_hidden, dtype=dtype)
        self.act = nn.Tanh()  # a module, so health statistics and `lmladder inspect` see it

    def forward(self, x, rows):
        h = self.proj(self.merge(x))  # (B, T, L, C) -> (B, T, L/2, 2C) -> (B, T, L/2, n_hidden)
        return self.act(self.norm(h, rows))


class WaveNet(WindowModel):
    """Position t predicts token t+1 from its own window of `context` tokens (left-padded with pad_id, as the MLP),
    for every t at once. BatchNorm's training statistics come from the positions that carry a target only, so the
    padding of a batch of names never skews them; without targets (sampling, scoring) it uses the running ones."""

    rung, ladder_position = "wavenet", 40
    Config = WaveNetConfig

    def __init__(self, config: WaveNetConfig, *, rng: np.random.Generator, dtype=np.float32):
        super().__init__(config, rng=rng, dtype=dtype)
        c = config
        fan_ins = [c.n_embd] + [c.n_hidden] * (int(math.log2(c.context)) - 1)
        self.levels = nn.ModuleList(Level(f, c.n_hidden, rng=rng, dtype=dtype) for f in fan_ins)
        self.head = quiet_head(c.n_hidden, c.vocab_size, 0.1, rng=rng, dtype=dtype)  # Zero-to-Hero's `*= 0.1`

    @classmethod
    def min_params(cls, c: WaveNetConfig) -> float:
        V, E, H, levels = c.vocab_size, c.n_embd, c.n_hidden, int(math.log2(c.context))
        return float(V * E + 2 * E * H + (levels - 1) * 2 * H * H + H * V)

    def forward(self, idx, targets=None, *, last_only=False):
        idx = self.check_input(idx, targets, last_only)
        windows = self.windows(idx, last_only)  # (B, T, context)
        if last_only:  # sampling: the last position's window alone, (B, T, context) -> (B, 1, context)
            windows = windows[:, -1:]
        B, T = windows.shape[:2]
        # the positions that carry a target, whose statistics BatchNorm learns from; none without targets
        rows = np.zeros((B, T), dtype=bool) if targets is None else np.asarray(targets) != IGNORE_INDEX  # (B, T)
        x = self.wte(windows)  # (B, T, context, n_embd)
        for level in self.levels:
            x = level(x, rows[:, :, None])  # (B, T, L, C) -> (B, T, L/2, n_hidden); rows broadcast over L/2
        logits = self.head(x.reshape(B, -1, x.shape[-1]))  # (B, T, 1, n_hidden) -> (B, T, vocab)
        return logits, (self.loss(logits, targets) if targets is not None else None)
