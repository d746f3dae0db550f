"""The causal convolution's backward compiled (numba): ops_transformer.CausalConv's textbook backward in one pass
per batch row, float32 only. kernels_jit.py's rules hold: each output element, and each partial sum, is computed by
one chunk (a batch row) whose bounds depend only on the shapes, so every thread count gives the same bits."""

from __future__ import annotations

import numpy as np
from numba import prange

from . import memory
from .kernels_jit import pick, twins


def _conv_bwd(g, xp, w, gx, pw):
    """gx (B, T, C) <- g (1 + w[0]) + sum_k w[k] g shifted back by k, each product and sum in the textbook's order
    (size 0: not needed); pw (B, K, C) <- each batch row's sums of g times the input k positions back, xp
    (B, K-1+T, C) (size 0: not needed)."""
    B, T, C = g.shape
    K = w.shape[0]
    for b in prange(B):
        if gx.size:
            for t in range(T):
                for c in range(C):
                    gx[b, t, c] = g[b, t, c] * (np.float32(1) + w[0, c])
            for k in range(1, K):
                for t in range(T - k):
                    for c in range(C):
                        gx[b, t, c] += g[b, t + k, c] * w[k, c]  # x_t fed y_{t+k}
        if pw.size:
            for k in range(K):
                for t in range(T):
                    for c in range(C):
                        pw[b, k, c] += g[b, t, c] * xp[b, K - 1 - k + t, c]


# without fastmath: gx is the textbook's bits (no reassociation, no fused multiply-add)
_CONV_BWD = twins(_conv_bwd, fastmath=False)
_NONE = np.empty((0, 0, 0), np.float32)


def causal_conv_backward(g, xp, w, need_x: bool, need_w: bool):
    """(gx (B, T, C) or None, gw (K, C) or None) of CausalConv for upstream g, its padded input xp (B, K-1+T, C)
    and w (K, C); gw sums the batch rows' partial sums in row order (its bits: not NumPy's einsum's)."""
    g, xp, w = (np.ascontiguousarray(a, dtype=np.float32) for a in (g, xp, w))
    B, _, C = g.shape
    gx = memory.placed(g, 2560) if need_x else _NONE
    pw = np.zeros((B, w.shape[0], C), np.float32) if need_w else _NONE
    pick(_CONV_BWD, g.size)(g, xp, w, gx, pw)
    return (gx if need_x else None), (pw.sum(axis=0) if need_w else None)
