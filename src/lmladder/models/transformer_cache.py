"""The GPT's decoding state: the keys and values of every layer for the tokens fed so far, preallocated to
block_size, and the last few tokens themselves for the look-backs (nn/lookback.py), so that decoding one token at
a time computes what a forward over the whole sequence does."""

from __future__ import annotations

import numpy as np

from ..autograd import is_grad_enabled
from .base import ModelConfigError


class KVCache:
    def __init__(self, n_layer: int, batch: int, n_head: int, block_size: int, head_dim: int, dtype, lookback: int,
                 pad: int):  # fmt: skip
        shape = (batch, n_head, block_size, head_dim)
        self.k = [np.zeros(shape, dtype) for _ in range(n_layer)]
        self.v = [np.zeros(shape, dtype) for _ in range(n_layer)]
        self.length = 0
        self.block_size = block_size
        self.lookback, self.pad = lookback, pad  # pad: the id that means "no token there"
        self.last: np.ndarray | None = None  # (B, lookback) the last ids fed: what the look-backs read next
        self.conv: dict[tuple[int, int], np.ndarray] = {}  # (layer, site) -> (B, kernel-1, C): the convs' last inputs

    def room(self, T: int) -> int:
        """The position of the next token (the tokens held), after checking that T more fit (and that no graph is
        being recorded: the cache holds arrays, not tensors)."""
        if is_grad_enabled():
            raise ModelConfigError("GPT.forward: the KV cache is for inference; wrap the call in no_grad()")
        if self.length + T > self.block_size:
            raise ModelConfigError(
                f"GPT.forward: cache holds {self.length} tokens, {T} more exceed block_size {self.block_size}; "
                "start a new cache from the last tokens"
            )
        return self.length

    def advance(self, idx: np.ndarray) -> None:
        """idx (B, T) has been fed: its keys and values are in, and its last tokens are the look-backs' next."""
        B, T = idx.shape
        past = np.full((B, self.lookback), self.pad) if self.last is None else self.last
        self.last = np.concatenate([past, idx], axis=1)[:, -self.lookback :]
        self.length += T
