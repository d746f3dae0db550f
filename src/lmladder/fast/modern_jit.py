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
    """The rotation of one pair of a head's halves: y1 = x1 cos - x2 sin, y2 = x2 cos + x1 sin."""
    return x1 * c - x2 * s, x2 * c + x1 * s


def _qkv_fwd(x, ve, turn, heads, eps, norm, outs):
    """ModernQKV's forward in one pass over each row m = b T + t of x (M, H + 2 Hkv, d), qkv's heads: the query and
    key heads RMS-normed (norm) and turned by row t's angles turn[0] = cos, turn[1] = sin (2, T, d/2) (no rows:
    none), the value heads plus ve (M, Hkv d) (no rows: none), every key and value head repeated for its H / Hkv
    query heads into out (M, 3 H d), heads = (H, Hkv); outs = (out, xhat, rstd): with a graph (xhat of size > 0)
    the norms' xhat (M, H + Hkv, d) and rstd (M, H + Hkv) too, for backward. The arithmetic of _rms_fwd (a gain of
    ones) and _turned, and NumPy's add: their bits (heads of 16 and more, measured; for short heads those two
    vectorise by their arrays' alignment, and differ from this by float32 rounding)."""
    H, Hkv = heads
    out, xhat, rstd = outs
    M, _, C = x.shape
    g, half, T = H // Hkv, C // 2, turn.shape[1]
    for m in prange(M):
        t = m % T if T else 0
        for h in range(H + Hkv):  # the query heads, then the key heads
            rs = _rstd(x, m, h, eps) if norm else np.float32(1)
            if xhat.size:
                rstd[m, h] = rs
                for j in range(C):
                    xhat[m, h, j] = x[m, h, j] * rs
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
            v = x[m, H + Hkv + hv]
            for r in range(g):
                dst = (2 * H + hv * g + r) * C
                for j in range(C):
                    out[m, dst + j] = v[j] + ve[m, hv * C + j] if ve.shape[0] else v[j]


def _qkv_bwd(g, saved, turn, heads, norm, gx, gve):
    """_qkv_fwd's gradient in one pass over each row m: g (M, 3 H d) -> gx (M, (H + 2 Hkv) d) and gve (M, Hkv d)
    (size 0: no value embeddings). A key or value head's gradient is the sum over its group of query heads; query
    and key heads turn back by their angle (turn as _qkv_fwd's) and go through RMS norm's backward (a gain of ones)
    with saved = (xhat (M, H + Hkv, d), rstd (M, H + Hkv)), the norms' (size 0 without norm)."""
    H, Hkv = heads
    xhat, rstd = saved
    M, C = gx.shape[0], gx.shape[1] // (H + 2 * Hkv)
    grp, half, T = H // Hkv, C // 2, turn.shape[1]
    for m in prange(M):
        t = m % T if T else 0
        buf = np.empty(C, np.float32)
        for h in range(H + Hkv):  # the query heads, then the key heads: q and k columns are h C.. in both layouts
            if h < H:
                buf[:] = g[m, h * C : (h + 1) * C]
            else:
                buf[:] = 0
                for r in range(grp):
                    src = (H + (h - H) * grp + r) * C
                    for j in range(C):
                        buf[j] += g[m, src + j]
            if T:  # the turn back: by -angle
                for i in range(half):
                    g1, g2, c, s = buf[i], buf[half + i], turn[0, t, i], turn[1, t, i]
                    buf[i] = g1 * c + g2 * s
                    buf[half + i] = g2 * c - g1 * s
            if norm:
                dot = np.float32(0)
                for j in range(C):
                    dot += buf[j] * xhat[m, h, j]
                dot /= np.float32(C)
                rs = rstd[m, h]
                for j in range(C):
                    gx[m, h * C + j] = rs * (buf[j] - xhat[m, h, j] * dot)
            else:
                gx[m, h * C : (h + 1) * C] = buf
        for hv in range(Hkv):  # the value heads: summed over their group, for v and for its value embedding
            dst = (H + Hkv + hv) * C
            gx[m, dst : dst + C] = 0
            for r in range(grp):
                src = (2 * H + hv * grp + r) * C
                for j in range(C):
                    gx[m, dst + j] += g[m, src + j]
            if gve.shape[0]:
                gve[m, hv * C : (hv + 1) * C] = gx[m, dst : dst + C]


def _relu2_fwd(x, y, r):
    for i in range(x.size):
        v = max(x[i], np.float32(0))
        r[i] = v
        y[i] = v * v


def _relu2_bwd(g, r, out):
    for i in range(g.size):
        out[i] = np.float32(2) * g[i] * r[i]


def _conv_fwd(x, before, w, y, xp):
    """y[b, t] = x[b, t] (1 + w[0]) + sum_k x[b, t - k] w[k], x[b, t - k] from before[b] for t < k: x, y (B, T, C),
    before (B, K-1, C), w (K, C); xp (B, K-1+T, C) <- [before, x] for backward (size 0: not kept). Compiled without
    fastmath: each product and sum rounded in the textbook's order (ops_transformer.CausalConv), so the same bits."""
    B, T, C = x.shape
    K = w.shape[0]
    for bt in prange(B * T):
        b, t = bt // T, bt % T
        if xp.size:
            xp[b, K - 1 + t] = x[b, t]
            if t == 0:
                xp[b, : K - 1] = before[b]
        for c in range(C):
            y[b, t, c] = x[b, t, c] * (np.float32(1) + w[0, c])
        for k in range(1, K):
            src = x[b, t - k] if t >= k else before[b, K - 1 - k + t]
            for c in range(C):
                y[b, t, c] += src[c] * w[k, c]


_RMS_FWD = twins(_rms_fwd)
_RMS_BWD = twins(_rms_bwd)
_RELU2_FWD = elementwise(_relu2_fwd)
_CONV_FWD = twins(_conv_fwd, fastmath=False)
# without reassociation: x rs is rounded before it turns, as rms_norm's output is before rotate_half reads it
_QKV_FWD = twins(_qkv_fwd, fastmath=FASTMATH - {"reassoc"})
_QKV_BWD = twins(_qkv_bwd)
_NO_TURN = np.empty((2, 0, 0), np.float32)  # no rotary positions
_RELU2_BWD = elementwise(_relu2_bwd)
_NONE = np.empty((0, 0), np.float32)  # a partial sum not asked for
_NONE3 = np.empty((0, 0, 0), np.float32)  # xhat not kept


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


def causal_conv_forward(x, w, before, keep: bool = False):
    """(y (B, T, C), xp (B, K-1+T, C) = [before, x], or None without keep) of CausalConv for contiguous x (B, T, C),
    w (K, C) and before (B, K-1, C)."""
    B, T, C = x.shape
    y = memory.placed(x, 3072)
    xp = memory.empty((B, w.shape[0] - 1 + T, C), x.dtype) if keep else _NONE3
    pick(_CONV_FWD, x.size)(x, before, w, y, xp)
    return y, xp if keep else None


def modern_qkv_forward(qkv, ve, cos, sin, heads: tuple[int, int], norm: bool, eps: float, keep: bool = False):
    """(out (B, T, 3 H d), norms): ModernQKV's forward of float32 qkv (B, T, (H + 2 Hkv) d), heads = (H, Hkv), ve
    (B, T, Hkv d) or None, cos and sin (T, d/2) or None; norms (with keep and norm: what backward needs, as
    ModernQKV keeps it: (ones (d,), qh (B, T, H, d), qr (B, T, H, 1), kh, kr), views of two arrays) or None."""
    B, T, W = qkv.shape
    H, Hkv = heads
    heads = np.ascontiguousarray(qkv).reshape(B * T, H + 2 * Hkv, -1)  # (M, heads, d)
    M, d = B * T, heads.shape[2]
    out = memory.empty((B, T, 3 * H * d), qkv.dtype)
    keep = keep and norm
    xhat = memory.empty((M, H + Hkv, d), qkv.dtype) if keep else _NONE3
    rstd = memory.empty((M, H + Hkv), qkv.dtype) if keep else _NONE
    ve2 = _NONE if ve is None else np.ascontiguousarray(ve, dtype=qkv.dtype).reshape(B * T, -1)
    turn = _NO_TURN if cos is None else np.stack([cos, sin])  # (2, T, d/2)
    args = (heads, ve2, turn, (H, Hkv), qkv.dtype.type(eps), norm)
    pick(_QKV_FWD, qkv.size)(*args, (out.reshape(B * T, -1), xhat, rstd))
    if not keep:
        return out, None
    qh, kh = xhat[:, :H].reshape(B, T, H, d), xhat[:, H:].reshape(B, T, Hkv, d)
    qr, kr = rstd[:, :H].reshape(B, T, H, 1), rstd[:, H:].reshape(B, T, Hkv, 1)
    return out, (np.ones(d, qkv.dtype), qh, qr, kh, kr)


def modern_qkv_backward(grad, norms, cos, sin, n_head: int, n_kv_head: int, has_ve: bool):
    """(gqkv (B, T, (H + 2 Hkv) d), gve (B, T, Hkv d) or None): ModernQKV's backward of grad (B, T, 3 H d) in one
    pass; norms as modern_qkv_forward keeps them (or the textbook lines do), None without QK-norm."""
    B, T, W3 = grad.shape
    H, Hkv, d = n_head, n_kv_head, W3 // (3 * n_head)
    M = B * T
    gx = memory.empty((B, T, (H + 2 * Hkv) * d), grad.dtype)
    gve = memory.empty((B, T, Hkv * d), grad.dtype) if has_ve else None
    saved = (_NONE3, _NONE) if norms is None else _whole_norms(norms, M)
    turn = _NO_TURN if cos is None else np.stack([cos[:, 0, :], sin[:, 0, :]])  # (2, T, d/2)
    g2 = np.ascontiguousarray(grad).reshape(M, W3)
    args = (g2, saved, turn, (H, Hkv), norms is not None, gx.reshape(M, -1))
    pick(_QKV_BWD, grad.size)(*args, _NONE if gve is None else gve.reshape(M, -1))
    return gx, gve


def _whole_norms(norms, M: int):
    """(xhat (M, H + Hkv, d), rstd (M, H + Hkv)) of ModernQKV's norms: the arrays modern_qkv_forward's views show,
    or (norms the textbook lines kept) the two heads' arrays joined."""
    _, qh, qr, kh, kr = norms
    H, Hkv, d = qh.shape[2], kh.shape[2], qh.shape[3]
    whole = [a.base if a.base is not None and a.base is b.base else None for a, b in ((qh, kh), (qr, kr))]
    if whole[0] is not None and whole[0].shape == (M, H + Hkv, d) and whole[1].shape == (M, H + Hkv):
        return whole[0], whole[1]
    xhat = np.concatenate([qh.reshape(M, H, d), kh.reshape(M, Hkv, d)], axis=1)
    return xhat, np.concatenate([qr.reshape(M, H), kr.reshape(M, Hkv)], axis=1)


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
