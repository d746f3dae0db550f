"""Scaled dot-product attention (Vaswani et al., 2017) as fused primitives: `AttentionQKV` on nanoGPT's fused
projection, with an optional KV cache for decoding, and `Attention` on separate q, k, v heads.

Each reads as the textbook: softmax(q k^T / sqrt(d) + causal mask) v. On float32 with `fast` on, its kernels run the
same arithmetic in cache-sized chunks on the one thread pool (fast/ops.py), to float32 rounding."""

from __future__ import annotations

import math

import numpy as np

from .. import fast
from .engine import AutogradError, Function, is_grad_enabled
from .ops_nn import dropout_mask


def causal_mask(T: int, S: int) -> np.ndarray:
    """True where query i (the last T of S positions) must not see key j: j > i + (S - T)."""
    return np.triu(np.ones((T, S), dtype=bool), k=S - T + 1)


def attend(q, k, v, causal: bool, dropout_p: float, rng):
    """(y, saved): softmax(q k^T / sqrt(d) [+ mask]) [* dropout] v for q (B, H, T, d), k and v (B, H, S, d)."""
    T, S, d = q.shape[-2], k.shape[-2], q.shape[-1]
    att = (q @ k.swapaxes(-1, -2)) * (1.0 / math.sqrt(d))  # (B, H, T, d) @ (B, H, d, S) -> (B, H, T, S)
    if causal:
        att = np.where(causal_mask(T, S), -np.inf, att)  # a query sees no later key
    att = np.exp(att - att.max(axis=-1, keepdims=True))
    att /= att.sum(axis=-1, keepdims=True)  # softmax over the keys
    keep = dropout_mask(rng, att.shape, att.dtype, dropout_p) if dropout_p > 0 else None
    y = (att if keep is None else att * keep) @ v  # (B, H, T, S) @ (B, H, S, d) -> (B, H, T, d)
    return y, (q, k, v, att, keep)


def attend_backward(saved, g):
    """(gq, gk, gv) for upstream g (B, H, T, d)."""
    q, k, v, att, keep = saved
    p = att if keep is None else att * keep
    gv = p.swapaxes(-1, -2) @ g  # (B, H, S, T) @ (B, H, T, d) -> (B, H, S, d)
    gp = g @ v.swapaxes(-1, -2)  # (B, H, T, d) @ (B, H, d, S) -> (B, H, T, S)
    if keep is not None:
        gp *= keep
    gs = att * (gp - (gp * att).sum(axis=-1, keepdims=True))  # through the softmax
    gs *= 1.0 / math.sqrt(q.shape[-1])
    return gs @ k, gs.swapaxes(-1, -2) @ q, gv  # (B, H, T, S) @ (B, H, S, d); (B, H, S, T) @ (B, H, T, d)


class AttentionQKV(Function):
    """Causal multi-head self-attention on a fused projection: qkv (B, T, 3C) -> (B, T, C), heads merged.

    qkv's last axis is [q | k | v], each C = n_head * head_dim wide (nanoGPT's c_attn layout). With `cache`
    (k_cache, v_cache, start), inference only: the new keys/values are written at [start, start + T) and the
    queries attend over all start + T cached positions.
    """

    __slots__ = ("saved", "n_head", "fast_ops")

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
        self.fast_ops = fast.kernel(qkv)
        if self.fast_ops is not None:
            out, saved = self.fast_ops.attention_qkv(qkv, n_head, dropout_p, rng, cache)
            self.saved = saved if is_grad_enabled() else None  # no graph: its probabilities go back to the pool now
            return out
        C = C3 // 3
        q, k, v = (qkv[..., i * C : (i + 1) * C].reshape(B, T, n_head, -1).swapaxes(1, 2) for i in range(3))
        if cache is not None:  # decoding: this step's keys and values join the cached ones
            k_cache, v_cache, start = cache
            k_cache[:, :, start : start + T], v_cache[:, :, start : start + T] = k, v
            k, v = k_cache[:, :, : start + T], v_cache[:, :, : start + T]  # (B, H, S, d)
        y, self.saved = attend(q, k, v, True, dropout_p, rng)  # (B, H, T, d)
        if cache is not None:
            self.saved = None
        return y.swapaxes(1, 2).reshape(B, T, C)  # (B, H, T, d) -> (B, T, H, d) -> (B, T, C): heads side by side

    def backward(self, g):
        if self.saved is None:
            raise AutogradError("AttentionQKV: no backward through the KV cache; decode under no_grad()")
        if self.fast_ops is not None:
            return (self.fast_ops.attention_qkv_backward(self.saved, g, self.n_head),)
        B, T, C = g.shape
        gq, gk, gv = attend_backward(self.saved, g.reshape(B, T, self.n_head, -1).swapaxes(1, 2))
        return (np.concatenate([a.swapaxes(1, 2).reshape(B, T, C) for a in (gq, gk, gv)], axis=-1),)  # (B, T, 3C)


class Attention(Function):
    """softmax(q k^T / sqrt(d) [+ causal mask]) v, with dropout on the probabilities; q (B,H,T,d), k/v (B,H,S,d)."""

    __slots__ = ("saved", "fast_ops")

    def forward(self, q, k, v, causal=True, dropout_p=0.0, rng=None):
        if q.ndim != 4 or q.shape[-1] != k.shape[-1] or k.shape != v.shape or q.shape[:-2] != k.shape[:-2]:
            raise AutogradError(
                f"Attention: q {q.shape}, k {k.shape}, v {v.shape} must be (B,H,T,d), (B,H,S,d), (B,H,S,d); "
                "split heads with reshape + permute first"
            )
        if dropout_p > 0 and rng is None:
            raise AutogradError("Attention: dropout_p > 0 needs rng=np.random.Generator; pass the model's rng")
        self.fast_ops = fast.kernel(q)
        if self.fast_ops is not None:
            out, self.saved = self.fast_ops.attention_heads(q, k, v, causal, dropout_p, rng)
            return out
        y, self.saved = attend(q, k, v, causal, dropout_p, rng)
        return y

    def backward(self, g):
        if self.fast_ops is not None:
            return self.fast_ops.attention_heads_backward(self.saved, g, self.needs)
        return attend_backward(self.saved, g)
