"""Compiled twins of modern.py's kernels (RMS norm, rotary turns, ReLU^2): one fused pass each, float32 only.

The rules of kernels_jit.py hold: each output element and partial sum is computed by one chunk whose bounds depend
only on the shapes, so every thread count gives the same bits; small calls stay on the calling thread. Inputs may be
strided (QK-norm reads the query and key columns of the fused projection in place); outputs are contiguous.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from . import memory
from .kernels_jit import FASTMATH, elementwise, pick, twins
from .memory import flat

ROWS = 64  # rows per chunk of RMS norm's backward: its gw partial sums are fixed per chunk


def _rms_fwd(x, w, eps, y, xhat, rstd):
    """Rows x[m, h] (M, H, C): rstd = 1 / sqrt(mean(x^2) + eps), xhat = x rstd, y = xhat w."""
    M, H, C = x.shape
    for m in prange(M):
        for h in range(H):
            ss = np.float32(0)
            for j in range(C):
                ss += x[m, h, j] * x[m, h, j]
            rs = np.float32(1) / np.sqrt(ss / np.float32(C) + eps)
            rstd[m, h] = rs
            for j in range(C):
                v = x[m, h, j] * rs
                xhat[m, h, j] = v
                y[m, h, j] = v * w[j]


def _rms_bwd(g, xhat, rstd, w, gx, pw, need_x):
    """gx = rstd (gh - xhat mean(gh xhat)), gh = g w; pw (chunks, C): each chunk of ROWS m's partial sum of g xhat
    (size 0: not needed)."""
    M, H, C = g.shape
    for ck in prange((M + ROWS - 1) // ROWS):
        for m in range(ck * ROWS, min(M, (ck + 1) * ROWS)):
            for h in range(H):
                if pw.size:
                    for j in range(C):
                        pw[ck, j] += g[m, h, j] * xhat[m, h, j]
                if need_x:
                    s = np.float32(0)
                    for j in range(C):
                        s += g[m, h, j] * w[j] * xhat[m, h, j]
                    s /= np.float32(C)
                    rs = rstd[m, h]
                    for j in range(C):
                        gx[m, h, j] = rs * (g[m, h, j] * w[j] - xhat[m, h, j] * s)


def _rotate(x, cos, sin, y):
    """x, y (B, T, H, d), cos / sin (T, d/2): y1 = x1 cos - x2 sin, y2 = x2 cos + x1 sin per head."""
    B, T, H, d = x.shape
    half = d // 2
    for bt in prange(B * T):
        b, t = bt // T, bt % T
        for h in range(H):
            for i in range(half):
                x1, x2, c, s = x[b, t, h, i], x[b, t, h, half + i], cos[t, i], sin[t, i]
                y[b, t, h, i] = x1 * c - x2 * s
                y[b, t, h, half + i] = x2 * c + x1 * s


@njit(fastmath=FASTMATH, error_model="numpy", cache=True)
def _rstd(x, m, h, eps):
    """1 / sqrt(mean(x[m, h]^2) + eps): _rms_fwd's sum and rounding (its fastmath: the sum's order is LLVM's, as
    there)."""
    C = x.shape[2]
    ss = np.float32(0)
    for j in range(C):
        ss += x[m, h, j] * x[m, h, j]
    return np.float32(1) / np.sqrt(ss / np.float32(C) + eps)


@njit(fastmath=FASTMATH, error_model="numpy", cache=True)
def _turned(x1, x2, c, s):
    """_rotate's arithmetic (its fastmath) for one pair of a head's halves."""
    return x1 * c - x2 * s, x2 * c + x1 * s


def _qkv_fwd(x, v, ve, turn, heads, eps, norm, out):
    """ModernQKV's forward without a graph, in one pass over each row m = b T + t: the query and key heads x
    (M, H + Hkv, d) RMS-normed (norm) and turned by row t's angles turn[0] = cos, turn[1] = sin (2, T, d/2) (no rows:
    none), the value heads v (M, Hkv, d) plus ve (M, Hkv d) (no rows: none), every key and value head repeated for
    its H / Hkv query heads into out (M, 3 H d), heads = (H, Hkv). The arithmetic of _rms_fwd (a gain of ones) and
    _rotate, on views of qkv as strided as theirs, and NumPy's add: their bits (heads of 16 and more, measured; for
    short heads those two vectorise by their arrays' alignment, and differ from this by float32 rounding)."""
    H, Hkv = heads
    M, _, C = x.shape
    g, half, T = H // Hkv, C // 2, turn.shape[1]
    for m in prange(M):
        t = m % T if T else 0
        for h in range(H + Hkv):  # the query heads, then the key heads
            rs = _rstd(x, m, h, eps) if norm else np.float32(1)
            for r in range(1 if h < H else g):
                dst = h * C if h < H else (H + (h - H) * g + r) * C
                if T:
                    for i in range(half):
                        y1, y2 = _turned(x[m, h, i] * rs, x[m, h, half + i] * rs, turn[0, t, i], turn[1, t, i])
                        out[m, dst + i], out[m, dst + half + i] = y1, y2
                else:
                    for j in range(C):
                        out[m, dst + j] = x[m, h, j] * rs
        for hv in range(Hkv):  # the value heads
            for r in range(g):
                dst = (2 * H + hv * g + r) * C
                for j in range(C):
                    out[m, dst + j] = v[m, hv, j] + ve[m, hv * C + j] if ve.shape[0] else v[m, hv, j]


def _relu2_fwd(x, y, r):
    for i in range(x.size):
        v = max(x[i], np.float32(0))
        r[i] = v
        y[i] = v * v


def _relu2_bwd(g, r, out):
    for i in range(g.size):
        out[i] = np.float32(2) * g[i] * r[i]


def _conv_fwd(x, before, w, y):
    """y[b, t] = x[b, t] (1 + w[0]) + sum_k x[b, t - k] w[k], x[b, t - k] from before[b] for t < k: x, y (B, T, C),
    before (B, K-1, C), w (K, C). Compiled without fastmath: each product and sum rounded in the textbook's order
    (ops_transformer.CausalConv), so the same bits."""
    B, T, C = x.shape
    K = w.shape[0]
    for bt in prange(B * T):
        b, t = bt // T, bt % T
        for c in range(C):
            y[b, t, c] = x[b, t, c] * (np.float32(1) + w[0, c])
        for k in range(1, K):
            src = x[b, t - k] if t >= k else before[b, K - 1 - k + t]
            for c in range(C):
                y[b, t, c] += src[c] * w[k, c]


_RMS_FWD = twins(_rms_fwd)
_RMS_BWD = twins(_rms_bwd)
_ROTATE = twins(_rotate)
_RELU2_FWD = elementwise(_relu2_fwd)
_CONV_FWD = twins(_conv_fwd, fastmath=False)
# without reassociation: x rs is rounded before it turns, as rms_norm's output is before rotate_half reads it
_QKV_FWD = twins(_qkv_fwd, fastmath=FASTMATH - {"reassoc"})
_NO_TURN = np.empty((2, 0, 0), np.float32)  # no rotary positions
_RELU2_BWD = elementwise(_relu2_bwd)
_NONE = np.empty((0, 0), np.float32)  # a partial sum not asked for


def rows(x: np.ndarray) -> np.ndarray:
    """x as (M, H, C) (a view where x's layout allows): the kernels' row layout."""
    return x.reshape((-1,) + x.shape[-2:]) if x.ndim >= 2 else x.reshape(1, 1, -1)


def rms_norm_forward(x, w, eps, keep: bool = True):
    """(y, xhat, rstd); keep False (no graph): xhat goes into y, which the kernel writes after it (None, None)."""
    x3 = rows(x)
    y = memory.placed(x3, 3072)
    xhat = memory.placed(x3, 2048) if keep else y
    rstd = memory.empty(x3.shape[:2], x.dtype)
    pick(_RMS_FWD, x.size)(x3, flat(w), x.dtype.type(eps), y, xhat, rstd)
    return (y.reshape(x.shape), xhat, rstd) if keep else (y.reshape(x.shape), None, None)


def rms_norm_backward(g, xhat, rstd, w, need_x: bool, need_w: bool):
    g3 = rows(g)
    M, _, C = g3.shape
    gx = memory.placed(g3, 2560) if need_x else np.empty((0, 0, 0), g.dtype)
    pw = np.zeros(((M + ROWS - 1) // ROWS, C), g.dtype) if need_w else _NONE
    pick(_RMS_BWD, g.size)(g3, xhat, rstd, flat(w), gx, pw, need_x)
    return (gx.reshape(g.shape) if need_x else None, pw.sum(axis=0) if need_w else None)


def rotate_half(x, cos, sin):
    y = memory.placed(x, 3072) if x.flags.c_contiguous else memory.empty(x.shape, x.dtype)
    pick(_ROTATE, x.size)(x, np.ascontiguousarray(cos[:, 0, :]), np.ascontiguousarray(sin[:, 0, :]), y)
    return y


def causal_conv_forward(x, w, before):
    """y (B, T, C) of CausalConv for contiguous x (B, T, C), w (K, C) and before (B, K-1, C)."""
    y = memory.placed(x, 3072)
    pick(_CONV_FWD, x.size)(x, before, w, y)
    return y


def modern_qkv_forward(qkv, ve, cos, sin, n_head: int, n_kv_head: int, norm: bool, eps: float):
    """out (B, T, 3 H d): ModernQKV's forward without a graph of float32 qkv (B, T, (H + 2 Hkv) d), ve (B, T, Hkv d)
    or None, cos and sin (T, d/2) or None."""
    B, T, W = qkv.shape
    H, Hkv = n_head, n_kv_head
    heads = np.ascontiguousarray(qkv).reshape(B * T, H + 2 * Hkv, -1)  # (M, heads, d)
    out = memory.empty((B, T, 3 * H * heads.shape[2]), qkv.dtype)
    ve2 = _NONE if ve is None else np.ascontiguousarray(ve, dtype=qkv.dtype).reshape(B * T, -1)
    turn = _NO_TURN if cos is None else np.stack([cos, sin])  # (2, T, d/2)
    args = (heads[:, : H + Hkv], heads[:, H + Hkv :], ve2, turn, (H, Hkv), qkv.dtype.type(eps), norm)
    pick(_QKV_FWD, qkv.size)(*args, out.reshape(B * T, -1))
    return out


def relu2_forward(x, keep: bool = True):
    """(y, r); keep False (no graph): r goes into y, which the kernel writes after it (None)."""
    y = memory.placed(x, 3072)
    r = memory.placed(x, 2048) if keep else y
    pick(_RELU2_FWD, x.size)(flat(x), y.reshape(-1), r.reshape(-1))
    return y, r if keep else None


def relu2_backward(g, r):
    out = memory.placed(g, 2560)
    pick(_RELU2_BWD, g.size)(flat(g), flat(r), out.reshape(-1))
    return out
