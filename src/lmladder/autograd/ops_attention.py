"""Fused scaled-dot-product attention (Vaswani et al., 2017): `AttentionQKV` on nanoGPT's fused projection, with
an optional KV cache for decoding, and `Attention` on separate q, k, v. Both run the speed wing's flash-style core
(Dao et al., 2022; fast/attention.py): scores are built, soft-maxed and consumed in cache-sized chunks."""

from __future__ import annotations

import numpy as np

from ..fast import attention, memory
from .engine import AutogradError, Function


def causal_mask(T: int, S: int) -> np.ndarray:
    """True where query i (the last T of S positions) must not see key j: j > i + (S - T)."""
    return np.triu(np.ones((T, S), dtype=bool), k=S - T + 1)


class AttentionQKV(Function):
    """Causal multi-head self-attention on a fused projection: qkv (B, T, 3C) -> (B, T, C), heads merged.

    qkv's last axis is [q | k | v], each C = n_head * head_dim wide (nanoGPT's c_attn layout). With `cache`
    (k_cache, v_cache, start), inference only: the new keys/values are written at [start, start + T) and the
    queries attend over all start + T cached positions.
    """

    __slots__ = ("saved", "n_head")

    def forward(self, qkv, n_head, dropout_p=0.0, rng=None, cache=None):
        B, T, C3 = qkv.shape
        if C3 % (3 * n_head):
            raise AutogradError(
                f"AttentionQKV: last dim {C3} of qkv {qkv.shape} is not 3 * n_head * head_dim for n_head={n_head}; "
                "pass the c_attn output (B, T, 3 * n_embd)"
            )
        if dropout_p > 0 and rng is None:
            raise AutogradError("AttentionQKV: dropout_p > 0 needs rng=np.random.Generator; pass the model's rng")
        self.n_head = n_head
        if cache is None:
            out, self.saved = attention.causal_qkv(qkv, n_head, dropout_p, rng)
            return out
        out = attention.cached_qkv(qkv, n_head, *cache, dropout_p=dropout_p, rng=rng)
        self.saved = None
        return out

    def backward(self, g):
        if self.saved is None:
            raise AutogradError("AttentionQKV: no backward through the KV cache; decode under no_grad()")
        return (attention.causal_qkv_backward(self.saved, g, self.n_head),)


class Attention(Function):
    """softmax(q k^T / sqrt(d) [+ causal mask]) v, with dropout on the probabilities; q (B,H,T,d), k/v (B,H,S,d)."""

    __slots__ = ("saved",)

    def forward(self, q, k, v, causal=True, dropout_p=0.0, rng=None):
        if q.ndim != 4 or q.shape[-1] != k.shape[-1] or k.shape != v.shape or q.shape[:-2] != k.shape[:-2]:
            raise AutogradError(
                f"Attention: q {q.shape}, k {k.shape}, v {v.shape} must be (B,H,T,d), (B,H,S,d), (B,H,S,d); "
                "split heads with reshape + permute first"
            )
        if dropout_p > 0 and rng is None:
            raise AutogradError("Attention: dropout_p > 0 needs rng=np.random.Generator; pass the model's rng")
        out = memory.empty(q.shape, q.dtype)
        self.saved = attention.forward(q, k, v, out, causal=causal, dropout_p=dropout_p, rng=rng)
        return out

    def backward(self, g):
        sv = self.saved
        gq, gk, gv = (memory.empty_like(a) if n else None for a, n in zip((sv.q, sv.k, sv.v), self.needs, strict=True))
        attention.backward(sv, g, gq, gk, gv)
        return gq, gk, gv
