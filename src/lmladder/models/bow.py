"""makemore's bag-of-words model (karpathy/makemore, `BoW`): token and position embeddings, one causal bag-of-words
block (each position adds the plain average of itself and every earlier position, then a tanh MLP), a linear head.
Attention with every weight equal: the rung between the MLP's fixed window and the transformer's learned one."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import nn
from ..autograd import functional as F
from ..rules import check_fields, integer
from .base import Counts, LanguageModel, ModelConfigError, need_vocab


@dataclass
class BoWConfig:
    """The bag-of-words model's hyper-parameters: `bow.model` in conf/, and what its checkpoints store."""

    block_size: int = integer(16, low=1)  # longest input (position embeddings)
    n_embd: int = integer(64, low=1)
    n_hidden: int = integer(64, low=1)  # the block's MLP width (makemore's n_embd2)
    vocab_size: int | None = integer(None, low=1, null="(set from the data)")

    def check(self) -> None:
        check_fields(self, ModelConfigError)

    def counts(self) -> Counts:
        """Parameters three ways and training FLOPs per token (models/base.py: Counts); the causal mean costs O(C)
        per token and is not counted."""
        V, E, H, T = need_vocab(self), self.n_embd, self.n_hidden, self.block_size
        matmul = 2 * E * H + E * V  # the block's two projections, the head
        tables = V * E + T * E
        params = tables + matmul + H + E + V  # + the three biases
        return Counts(params, params - tables, matmul, 6 * matmul)


class BoWBlock(nn.Module):
    """x + causal_mean(x), then x + c_proj(tanh(c_fc(x))) (makemore's BoWBlock)."""

    def __init__(self, n_embd: int, n_hidden: int, *, rng: np.random.Generator, dtype):
        self.c_fc = nn.Linear(n_embd, n_hidden, rng=rng, dtype=dtype)
        self.c_proj = nn.Linear(n_hidden, n_embd, rng=rng, dtype=dtype)
        self.act = nn.Tanh()  # a module, so health statistics and `lmladder inspect` see it

    def forward(self, x):
        x = x + F.causal_mean(x, axis=1)  # (B, T, C): position t adds the mean of positions 0..t
        return x + self.c_proj(self.act(self.c_fc(x)))  # (B, T, C) -> (B, T, n_hidden) -> (B, T, C)


class BoW(LanguageModel):
    rung, ladder_position = "bow", 30
    Config = BoWConfig

    def __init__(self, config: BoWConfig, *, rng: np.random.Generator, dtype=np.float32):
        super().__init__(config)
        c = config
        self.block_size = c.block_size
        self.wte = nn.Embedding(c.vocab_size, c.n_embd, rng=rng, dtype=dtype)
        self.wpe = nn.Embedding(c.block_size, c.n_embd, rng=rng, dtype=dtype)
        self.block = BoWBlock(c.n_embd, c.n_hidden, rng=rng, dtype=dtype)
        self.head = nn.Linear(c.n_embd, c.vocab_size, rng=rng, dtype=dtype)

    @classmethod
    def min_params(cls, c: BoWConfig) -> float:
        V, E, H, T = c.vocab_size, c.n_embd, c.n_hidden, c.block_size
        return float(V * E + T * E + 2 * E * H + E * V)

    def forward(self, idx, targets=None, *, last_only=False):
        idx = self.check_input(idx, targets, last_only)
        T = idx.shape[1]
        x = self.wte(idx) + self.wpe(np.arange(T))  # (B, T, C) + (T, C)
        x = self.block(x)  # (B, T, C)
        if last_only:
            x = x[:, -1:]  # (B, T, C) -> (B, 1, C)
        logits = self.head(x)  # (B, T, vocab)
        return logits, (self.loss(logits, targets) if targets is not None else None)
