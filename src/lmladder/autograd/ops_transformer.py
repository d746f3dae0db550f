"""Primitives of the modern transformer (modded-nanogpt, nanochat): the queries, keys and values of its attention
(value embeddings, QK-norm, rotary positions, shared key/value heads), the value residual, the causal convolution and
the squared ReLU."""

from __future__ import annotations

import functools

import numpy as np

from .. import fast
from .engine import AutogradError, Function, is_grad_enabled
from .ops_nn import rms_norm, rms_norm_backward


@functools.lru_cache(maxsize=64)
def rotary_tables(n: int, head_dim: int, base: float, dtype: str) -> tuple[np.ndarray, np.ndarray]:
    """cos and sin of position t times frequency base^(-2i/d), each (n, head_dim // 2), read-only.

    Angles are computed in float64 and rounded once, so float32 and float64 models rotate by the same angles."""
    inv_freq = base ** (-np.arange(0, head_dim, 2, dtype=np.float64) / head_dim)  # (d/2,)
    angles = np.outer(np.arange(n, dtype=np.float64), inv_freq)  # (n, d/2)
    cos, sin = np.cos(angles).astype(dtype), np.sin(angles).astype(dtype)
    cos.flags.writeable = sin.flags.writeable = False
    return cos, sin


class ModernQKV(Function):
    """c_attn's output (B, T, (H + 2 H_kv) d) -> the (B, T, 3C) layout the fused attention reads, through the modern
    transformer's pieces in one primitive: value embeddings added to v (nanochat), QK-norm (a gain-free RMS norm of
    each head, Henry et al., 2020), rotary positions on q and k (Su et al., 2021, RoFormer) and key/value heads
    repeated for their groups of query heads (grouped-query attention, Ainslie et al., 2023).

    Rotary: the two halves of each head (x1, x2) turn by angle t * base^(-2i/d) at positions start .. start + T - 1
    (GPT-NeoX's "rotate half" layout): y1 = x1 cos - x2 sin, y2 = x2 cos + x1 sin. A rotation's transpose is the
    rotation back, so backward turns the gradient by the opposite angle. Backward runs the pieces in reverse into
    one gradient array; as separate ops they cost a zero-filled (B, T, 3C) gradient per slice and a concat."""

    __slots__ = ("H", "Hkv", "d", "norms", "cos", "sin", "has_ve")

    def forward(self, qkv, *ve, n_head: int, n_kv_head: int, qk_norm=False, rope_base=None, start=0, eps=1e-5):
        B, T, W = qkv.shape
        H, Hkv = n_head, n_kv_head
        d = W // (H + 2 * Hkv)
        if W != (H + 2 * Hkv) * d or H % Hkv or (rope_base and d % 2):
            raise AutogradError(
                f"ModernQKV: width {W} is not (n_head + 2 n_kv_head) * head_dim for n_head={H}, n_kv_head={Hkv} "
                "with n_kv_head dividing n_head (and head_dim even for rotary positions)"
            )
        self.H, self.Hkv, self.d, self.has_ve = H, Hkv, d, bool(ve)
        self.cos = self.sin = self.norms = None
        if rope_base:
            cos, sin = rotary_tables(start + T, d, rope_base, qkv.dtype.str)
            self.cos, self.sin = cos[start:, None, :], sin[start:, None, :]  # (T, 1, d/2): broadcast over heads
        if (fast_ops := fast.kernel(qkv)) is not None and (not ve or ve[0].dtype == qkv.dtype):
            # one pass of the lines below's arithmetic, keeping the norms' xhat and rstd when there is a graph
            args = (qkv, ve[0] if ve else None, (H, Hkv), qk_norm, self.cos, self.sin, eps, is_grad_enabled())
            out, self.norms = fast_ops.modern_qkv(*args)
            return out
        C, Ckv = H * d, Hkv * d
        q = qkv[:, :, :C].reshape(B, T, H, d)  # (B, T, H, d), a strided view
        k = qkv[:, :, C : C + Ckv].reshape(B, T, Hkv, d)  # (B, T, H_kv, d)
        v = qkv[:, :, C + Ckv :]  # (B, T, H_kv d)
        if ve:
            v = v + ve[0]  # this token's value embedding
        if qk_norm:
            one = np.ones(d, qkv.dtype)
            (q, qh, qr), (k, kh, kr) = rms_norm(q, one, eps), rms_norm(k, one, eps)
            self.norms = (one, qh, qr, kh, kr)
        if rope_base:
            q, k = rotate_half(q, self.cos, self.sin), rotate_half(k, self.cos, self.sin)
        out = np.empty((B, T, 3 * C), qkv.dtype)
        out[:, :, :C] = q.reshape(B, T, C)
        g = H // Hkv  # each key/value head serves g query heads, side by side
        out[:, :, C : 2 * C].reshape(B, T, Hkv, g, d)[...] = k.reshape(B, T, Hkv, 1, d)
        out[:, :, 2 * C :].reshape(B, T, Hkv, g, d)[...] = v.reshape(B, T, Hkv, 1, d)
        return out

    def backward(self, grad):
        B, T, _ = grad.shape
        H, Hkv, d = self.H, self.Hkv, self.d
        if (fast_ops := fast.kernel(grad)) is not None and (self.norms is None or self.norms[1].dtype == grad.dtype):
            gqkv, gve = fast_ops.modern_qkv_backward(grad, self.norms, (H, Hkv), self.cos, self.sin, self.has_ve)
            return (gqkv, gve) if self.has_ve else (gqkv,)
        C, Ckv, g = H * d, Hkv * d, H // Hkv
        gq = grad[:, :, :C].reshape(B, T, H, d)
        gk = grad[:, :, C : 2 * C].reshape(B, T, Hkv, g, d).sum(axis=3)  # a group's heads share one key head
        gv = grad[:, :, 2 * C :].reshape(B, T, Hkv, g, d).sum(axis=3)
        if self.cos is not None:
            gq, gk = rotate_half(gq, self.cos, -self.sin), rotate_half(gk, self.cos, -self.sin)
        if self.norms is not None:
            one, qh, qr, kh, kr = self.norms
            gq = rms_norm_backward(gq, qh, qr, one, True, False)[0]
            gk = rms_norm_backward(gk, kh, kr, one, True, False)[0]
        gqkv = np.empty((B, T, C + 2 * Ckv), grad.dtype)
        gqkv[:, :, :C] = gq.reshape(B, T, C)
        gqkv[:, :, C : C + Ckv] = gk.reshape(B, T, Ckv)
        gqkv[:, :, C + Ckv :] = gv.reshape(B, T, Ckv)
        return (gqkv, gv.reshape(B, T, Ckv)) if self.has_ve else (gqkv,)


class ReluSquared(Function):
    """max(x, 0)^2 (So et al., 2021, Primer), the MLP activation of modded-nanogpt and nanochat."""

    __slots__ = ("r",)

    def forward(self, x):
        if (k := fast.kernel(x)) is not None:  # under no_grad it keeps no r
            y, self.r = k.relu2(x, is_grad_enabled())
            return y
        self.r = np.maximum(x, 0)
        return self.r * self.r

    def backward(self, g):
        if (k := fast.kernel(g)) is not None:
            return (k.relu2_backward(g, self.r),)
        return (2 * g * self.r,)


class CausalConv(Function):
    """x + a causal depthwise convolution over time, y_t = x_t + sum_k w_k * x_{t-k} (k = 0..K-1; Allen-Zhu 2025's
    Canon layers, RWKV's token shift for K = 2): x (B, T, C), w (K, C) in any shape of K*C values (a flat vector
    keeps it out of Muon's matrices), `before` (B, K-1, C) the inputs just before x's first (a KV cache's), or None
    (nothing came before: zeros)."""

    __slots__ = ("xp", "w", "w_shape")

    def forward(self, x, w, before=None, kernel=2):
        B, T, C = x.shape
        W = w.reshape(kernel, C)
        self.w, self.w_shape = W, w.shape
        if (fast_ops := fast.kernel(x)) is not None and W.dtype == x.dtype:  # under no_grad it keeps no xp
            y, self.xp = fast_ops.causal_conv(x, W, before, is_grad_enabled())
            return y
        if before is None:
            before = np.zeros((B, kernel - 1, C), x.dtype)
        xp = np.concatenate([before, x], axis=1)  # (B, K-1+T, C): x_{t-k} at t + K-1-k
        y = x * (1 + W[0])
        for k in range(1, kernel):
            y += xp[:, kernel - 1 - k : kernel - 1 - k + T] * W[k]
        self.xp = xp
        return y

    def backward(self, g):
        if (fast_ops := fast.kernel(g)) is not None and self.w.dtype == g.dtype:
            gx, gw = fast_ops.causal_conv_backward(g, self.xp, self.w, self.needs[0], self.needs[1])
            return gx, None if gw is None else gw.reshape(self.w_shape)
        K, T = self.w.shape[0], g.shape[1]
        gx = g * (1 + self.w[0]) if self.needs[0] else None
        gw = np.empty_like(self.w) if self.needs[1] else None
        for k in range(K):
            if gx is not None and 0 < k < T:
                gx[:, : T - k] += g[:, k:] * self.w[k]  # x_t fed y_{t+k}
            if gw is not None:
                gw[k] = np.einsum("btc,btc->c", g, self.xp[:, K - 1 - k : K - 1 - k + T])
        return gx, None if gw is None else gw.reshape(self.w_shape)


class ValueResidual(Function):
    """ResFormer's value residual (Zhou et al., 2024): attention's (B, T, 3C) queries, keys and values with the
    values (the last C columns) mixed with the first layer's v1 (B, T, C), v + lam (v1 - v) = (1 - lam) v + lam v1,
    by a learned lam (1,); q and k pass through."""

    __slots__ = ("v", "v1", "lam")

    def forward(self, qkv, v1, lam):
        C = v1.shape[-1]
        self.v, self.v1, self.lam = qkv[..., -C:], v1, lam
        out = qkv.copy()
        out[..., -C:] += lam * (v1 - self.v)
        return out

    def backward(self, g):
        C = self.v1.shape[-1]
        gv = g[..., -C:]
        g_qkv = g.copy()
        g_qkv[..., -C:] *= 1 - self.lam  # (1 - lam) g at the values
        g_lam = np.sum(gv * (self.v1 - self.v), dtype=np.float64).astype(self.lam.dtype).reshape(self.lam.shape)
        return g_qkv, self.lam * gv, g_lam


def rotate_half(x: np.ndarray, cos: np.ndarray, sin: np.ndarray) -> np.ndarray:
    """x (B, T, H, d) turned by the angles of cos, sin (T, 1, d/2): y1 = x1 cos - x2 sin, y2 = x2 cos + x1 sin for
    the halves x1, x2 of each head."""
    h = x.shape[-1] // 2
    x1, x2 = x[..., :h], x[..., h:]  # (B, T, H, d/2) each
    return np.concatenate([x1 * cos - x2 * sin, x2 * cos + x1 * sin], axis=-1)
