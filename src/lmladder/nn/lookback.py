"""Cheap look-backs for a character model's input, all zero-initialised (they start as no-ops) and drawing
nothing from the random generator (a model with them starts as the same model without them):

- Smear (modded-nanogpt's "smear", kept by nanochat): each position adds a gated share of the previous position's
  embedding, x_t + lam * sigmoid(w . x_t[:k]) * x_{t-1}; the first position has nothing before it.
- NgramEmbedding: a learned vector for every n-gram of orders 2..n ending at a position, added to the token
  embedding: what the count model's n-gram tables know, inside the network. Order 2 is the bigram embedding, every
  (previous token, token) pair its own row while the (V + 1) V pairs fit (V: "no previous token"); longer orders are
  hashed into a fixed number of rows once their n-grams outnumber them (the hash n-gram embeddings of BLT,
  Pagnoni et al. 2024; Huang et al. 2025's over-tokenized inputs).
- CausalConv: x_t + sum_k w_k * x_{t-k} over the last `kernel` positions, per channel (Allen-Zhu 2025's Canon
  layers; RWKV's token shift is kernel 2): local mixing inside each block, so attention need not spend heads on
  the previous few characters.

Each takes `before`: what came just before the first position of x (the last tokens of a KV cache), or None when
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


class CausalConv(Module):
    """x (B, T, C) -> x_t + sum_{k<kernel} w_k * x_{t-k}, per channel; w starts at zero (the identity). With a KV
    cache it keeps the last kernel - 1 inputs it saw under `key`, for the next token."""

    def __init__(self, channels: int, kernel: int, dtype=np.float32):
        self.kernel = kernel
        self.weight = Parameter(init.zeros((kernel * channels,), dtype))  # flat: a gain to the optimizers, not Muon's

    def forward(self, x, cache=None, key=None):
        if cache is None:
            return F.causal_conv(x, self.weight, self.kernel)
        B, T, C = x.shape  # decoding, under no_grad: x continues the inputs the cache kept under `key`
        past = cache.conv.get(key)
        if past is None:  # the start: nothing before
            past = np.zeros((B, self.kernel - 1, C), x.dtype)
        cache.conv[key] = np.concatenate([past, x.data], axis=1)[:, T:]  # what the next token looks back at
        return F.causal_conv(x, self.weight, self.kernel, past)


def ngram_counts(vocab_size: int, max_order: int) -> list[int]:
    """The k-grams of each order k = 2..max_order: (V + 1)^(k-1) V (V: "no token there", before the first position)."""
    return [(vocab_size + 1) ** (k - 1) * vocab_size for k in range(2, max_order + 1)]


class NgramEmbedding(Embedding):
    """For each order k = 2..max_order, a table row per k-gram (the k - 1 tokens before a position and the token at
    it), summed over the orders: (B, T) ids -> (B, T, C). An order's (V + 1)^(k-1) V k-grams (V: "no token there",
    before the first position) get a row each while they fit in `buckets` rows, row = history * V + token;
    beyond that they share rows by a hash. All orders live in one table, an Embedding to the optimizers (never
    Muon's) and to the parameter counts."""

    def __init__(self, vocab_size: int, embedding_dim: int, max_order: int, buckets: int, dtype=np.float32):
        self.vocab_size, self.max_order = vocab_size, max_order
        ngrams = ngram_counts(vocab_size, max_order)
        self.exact, sizes = [n <= buckets for n in ngrams], [min(n, buckets) for n in ngrams]
        self.sizes, self.offsets = sizes, np.cumsum([0, *sizes[:-1]])
        self.weight = Parameter(init.zeros((sum(sizes), embedding_dim), dtype))

    def rows(self, idx, before=None) -> np.ndarray:
        """(B, T) ids -> (B, T, max_order - 1) table rows, order 2 first; before: (B, m) ids of the tokens before
        idx's first (the last one last), or None."""
        V, n, (B, T) = self.vocab_size, self.max_order, idx.shape
        past = np.full((B, n - 1), V, np.int64)
        if before is not None:
            before = np.asarray(before).reshape(B, -1)[:, -(n - 1) :]
            past[:, n - 1 - before.shape[1] :] = before
        seq = np.concatenate([past, idx], axis=1).astype(np.uint64)  # (B, n - 1 + T): idx[t] at n - 1 + t
        history, out = np.zeros((B, T), np.uint64), []
        for j, exact in enumerate(self.exact, start=1):  # order j + 1 adds the token j places back
            history = history * np.uint64(V + 1) + seq[:, n - 1 - j : n - 1 - j + T]  # wraps mod 2^64 when long
            code = history * np.uint64(V) + seq[:, n - 1 :]
            out.append(code if exact else _mix(code) % np.uint64(self.sizes[j - 1]))
        return np.stack(out, axis=-1).astype(np.int64) + self.offsets  # (B, T, n - 1)

    def forward(self, idx, before=None):
        """idx (B, T) ids -> (B, T, C); before: (B, m) or (B,) ids of the tokens before idx's first, or None."""
        return F.embedding(self.rows(idx, before), self.weight).sum(axis=2)  # (B, T, n - 1, C) -> (B, T, C)


def _mix(h: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser: every bit of a code moves every bit of its hash (uint64, wrapping)."""
    h = (h ^ (h >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    h = (h ^ (h >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return h ^ (h >> np.uint64(31))
