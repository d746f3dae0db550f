"""Compiled twins of modern.py's kernels (RMS norm, rotary turns, ReLU^2): one fused pass each, float32 only.

The rules of kernels_jit.py hold: each output element and partial sum is computed by one chunk whose bounds depend
only on the shapes, so every thread count gives the same bits; small calls stay on the calling thread. Inputs may be
strided (QK-norm reads the query and key columns of the fused projection in place); outputs are contiguous.
"""

from __future__ import annotations

import numpy as np
from numba import prange

from . import memory
from .kernels_jit import elementwise, pick, twins
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


def _relu2_fwd(x, y, r):
    for i in range(x.size):
        v = max(x[i], np.float32(0))
        r[i] = v
        y[i] = v * v


def _relu2_bwd(g, r, out):
    for i in range(g.size):
        out[i] = np.float32(2) * g[i] * r[i]


_RMS_FWD = twins(_rms_fwd)
_RMS_BWD = twins(_rms_bwd)
_ROTATE = twins(_rotate)
_RELU2_FWD = elementwise(_relu2_fwd)
_RELU2_BWD = elementwise(_relu2_bwd)
_NONE = np.empty((0, 0), np.float32)  # a partial sum not asked for


def rows(x: np.ndarray) -> np.ndarray:
    """x as (M, H, C) (a view where x's layout allows): the kernels' row layout."""
    return x.reshape((-1,) + x.shape[-2:]) if x.ndim >= 2 else x.reshape(1, 1, -1)


def rms_norm_forward(x, w, eps):
    x3 = rows(x)
    y, xhat = memory.placed(x3, 3072), memory.placed(x3, 2048)
    rstd = memory.empty(x3.shape[:2], x.dtype)
    pick(_RMS_FWD, x.size)(x3, flat(w), x.dtype.type(eps), y, xhat, rstd)
    return y.reshape(x.shape), xhat, rstd


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


def relu2_forward(x):
    y, r = memory.placed(x, 3072), memory.placed(x, 2048)
    pick(_RELU2_FWD, x.size)(flat(x), y.reshape(-1), r.reshape(-1))
    return y, r


def relu2_backward(g, r):
    out = memory.placed(g, 2560)
    pick(_RELU2_BWD, g.size)(flat(g), flat(r), out.reshape(-1))
    return out
