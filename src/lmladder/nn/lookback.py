"""Two cheap one-token look-backs for a character model's input, both zero-initialised (they start as no-ops) and
both drawing nothing from the random generator (a model with them starts as the same model without them):

- Smear (modded-nanogpt's "smear", kept by nanochat): each position adds a gated share of the previous position's
  embedding, x_t + lam * sigmoid(w . x_t[:k]) * x_{t-1}; the first position has nothing before it.
- BigramEmbedding: a learned vector for every (previous token, token) pair, added to the token embedding: what the
  count model's bigram table knows, inside the network. Row prev * V + cur; prev = V means "no previous token".

Both take `before`: what came just before the first position of x (the last token of a KV cache), or None when
x starts the sequence, so decoding one token at a time computes what the whole sequence does."""

from __future__ import annotations

import numpy as np

from ..autograd import concat
from ..autograd import functional as F
from . import init
from .layers import Embedding
from .module import Module, Parameter


class Smear(Module):
    """x (B, T, C) -> x_t + lam * sigmoid(w . x_t[:width]) * x_{t-1}: the gate reads the first `width` channels of
    the position's own embedding; lam and w start at zero, so the gate starts closed."""

    def __init__(self, width: int, dtype=np.float32):
        self.width = width
        self.weight = Parameter(init.zeros((1, width), dtype))  # a Linear(width, 1) without bias
        self.lam = Parameter(init.zeros((1,), dtype))

    def forward(self, x, before=None):
        """before: (B, 1, C), the embedding of the token before x's first, or None (nothing came before)."""
        B, _, C = x.shape
        gate = self.lam * F.linear(x[..., : self.width], self.weight).sigmoid()  # (B, T, width) -> (B, T, 1)
        if before is None:
            before = np.zeros((B, 1, C), x.dtype)  # the first position takes nothing from before
        prev = concat([before, x[:, :-1]], axis=1)  # (B, 1, C) + (B, T-1, C) -> (B, T, C): x_{t-1} at t
        return x + gate * prev


class BigramEmbedding(Embedding):
    """A ((V + 1) * V, C) table indexed by (previous token, token); row prev * V + cur, prev = V at the first
    position. An Embedding to the optimizers (never Muon's) and to the parameter counts (a lookup table)."""

    def __init__(self, vocab_size: int, embedding_dim: int, dtype=np.float32):
        self.vocab_size = vocab_size
        self.weight = Parameter(init.zeros(((vocab_size + 1) * vocab_size, embedding_dim), dtype))

    def forward(self, idx, before=None):
        """idx (B, T) ids -> (B, T, C); before: (B,) ids of the tokens before idx's first, or None (none came)."""
        V = self.vocab_size
        first = np.full((idx.shape[0], 1), V, np.int64) if before is None else np.asarray(before)[:, None]
        prev = np.concatenate([first, idx[:, :-1]], axis=1)  # (B, T): each position's previous token
        return F.embedding(prev * V + idx, self.weight)  # (B, T) -> (B, T, C)
