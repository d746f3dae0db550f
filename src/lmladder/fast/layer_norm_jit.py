"""Layer norm's forward and backward as compiled passes over rows (numba), kernels.py's NumPy versions their
reference (tests/fast/test_kernels_jit.py). Rows are split over the pool in fixed chunks (kernels_jit.pick, twins):
the backward's weight and bias gradients are partial sums per chunk of ROWS rows, summed in chunk order, so the
bits never depend on the thread count.
"""

from __future__ import annotations

import functools

import llvmlite.binding as llvm
import numpy as np
from numba import carray, cfunc, prange, types

from . import memory
from .kernels_jit import FASTMATH, pick, twins
from .memory import filled, flat


def _layer_norm_fwd(x, w, b, eps, y, xhat, rstd):
    """Rows of x (N, C): xhat = (x - mean) rstd, y = xhat w + b (ones / zeros when absent: h * 1 + 0 is h)."""
    N, C = x.shape
    for r in prange(N):
        row = x[r]
        mean = np.float32(0)
        for j in range(C):
            mean += row[j]
        mean /= np.float32(C)
        var = np.float32(0)
        for j in range(C):
            d = row[j] - mean
            var += d * d
        rs = np.float32(1) / np.sqrt(var / np.float32(C) + eps)
        rstd[r] = rs
        for j in range(C):
            h = (row[j] - mean) * rs
            xhat[r, j] = h
            y[r, j] = h * w[j] + b[j]


ROWS = 64  # rows per chunk of layer norm's backward: its gw/gb partial sums are fixed per chunk


def _ln_bwd_sums(g, xhat, pw, pb, R, C, need_w, need_b):
    """R rows, float32 pointers: pw/pb (C,) += the rows' sums of g xhat and of g, each where asked."""
    g, xhat, pw, pb = carray(g, (R, C)), carray(xhat, (R, C)), carray(pw, C), carray(pb, C)
    for r in range(R):
        if need_w:
            for j in range(C):
                pw[j] += g[r, j] * xhat[r, j]
        if need_b:
            for j in range(C):
                pb[j] += g[r, j]


def _ln_bwd_x(g, xhat, rstd, w, gx, R, C):
    """R rows, float32 pointers: gx (R, C) = rstd (gh - mean(gh) - xhat mean(gh xhat)), gh = g w."""
    g, xhat, rstd, w, gx = carray(g, (R, C)), carray(xhat, (R, C)), carray(rstd, R), carray(w, C), carray(gx, (R, C))
    for r in range(R):
        m1 = np.float32(0)
        m2 = np.float32(0)
        for j in range(C):
            gh = g[r, j] * w[j]
            m1 += gh
            m2 += gh * xhat[r, j]
        m1 /= np.float32(C)
        m2 /= np.float32(C)
        rs = rstd[r]
        for j in range(C):
            gh = g[r, j] * w[j]
            gx[r, j] = rs * (gh - m1 - xhat[r, j] * m2)


# The rows' two passes are C functions (cfunc) that the chunk loop calls by name: numba links a called kernel's code
# into its caller, and a caller loaded from numba's cache ran that copy, whose sums LLVM had reordered when it
# optimised it again (a parallel loop loaded from the cache gave other bits than just compiled, on a Zen 3 and an
# AVX-512 Xeon); a C function keeps one compiled copy, cached like any kernel
_p, _f, _n = types.voidptr, types.CPointer(types.float32), types.int64
_SUMS_SIG, _X_SIG = types.void(_f, _f, _f, _f, _n, _n, _n, _n), types.void(_f, _f, _f, _f, _f, _n, _n)
_SUMS = types.ExternalFunction("lmladder_ln_bwd_sums", types.void(_p, _p, _p, _p, _n, _n, _n, _n))
_X = types.ExternalFunction("lmladder_ln_bwd_x", types.void(_p, _p, _p, _p, _p, _n, _n))


def _layer_norm_bwd(g, xhat, rstd, w, gx, pw, pb, need_x):
    """The two passes over fixed chunks of ROWS rows; pw/pb (chunks, C) get each chunk's partial sums (summed in
    chunk order by the caller; size 0: not needed)."""
    N, C = g.shape
    F = 4  # bytes per float32
    for ck in prange((N + ROWS - 1) // ROWS):
        lo, hi = ck * ROWS, min(N, (ck + 1) * ROWS)
        g_at, xhat_at = g.ctypes.data + lo * C * F, xhat.ctypes.data + lo * C * F  # the chunk's first row
        if pw.size or pb.size:
            _SUMS(g_at, xhat_at, pw.ctypes.data + ck * C * F, pb.ctypes.data + ck * C * F, hi - lo, C, pw.size, pb.size)
        if need_x:
            _X(g_at, xhat_at, rstd.ctypes.data + lo * F, w.ctypes.data, gx.ctypes.data + lo * C * F, hi - lo, C)


@functools.cache
def _ln_bwd_twins():
    """The chunk loop's twins, made at the first call, once the two passes are compiled (or loaded) under their C
    names."""
    flags = dict(fastmath=FASTMATH, error_model="numpy", cache=True)
    llvm.add_symbol("lmladder_ln_bwd_sums", cfunc(_SUMS_SIG, **flags)(_ln_bwd_sums).address)
    llvm.add_symbol("lmladder_ln_bwd_x", cfunc(_X_SIG, **flags)(_ln_bwd_x).address)
    return twins(_layer_norm_bwd)


_LN_FWD = twins(_layer_norm_fwd)
_NONE = np.empty((0, 0), np.float32)  # a partial sum not asked for


def layer_norm_forward(x, w, b, eps, keep: bool = True):
    """(y, xhat, rstd); keep False (no graph): xhat goes into y, which the kernel writes after it (None, None)."""
    y = memory.placed(x, 3072)
    xhat = memory.placed(x, 2048) if keep else y
    rstd = memory.empty((x.shape[0],), x.dtype)
    w = filled(x.shape[1], 1, x.dtype) if w is None else flat(w)
    b = filled(x.shape[1], 0, x.dtype) if b is None else flat(b)
    pick(_LN_FWD, x.size)(np.ascontiguousarray(x), w, b, x.dtype.type(eps), y, xhat, rstd)
    return (y, xhat, rstd) if keep else (y, None, None)


def layer_norm_backward(g, xhat, rstd, w, need_x: bool, need_w: bool, need_b: bool):
    N, C = g.shape
    chunks = (N + ROWS - 1) // ROWS
    gx = memory.placed(g, 2560) if need_x else _NONE
    pw = np.zeros((chunks, C), g.dtype) if need_w else _NONE
    pb = np.zeros((chunks, C), g.dtype) if need_b else _NONE
    w = filled(C, 1, g.dtype) if w is None else np.ascontiguousarray(flat(w))
    g, xhat, rstd = np.ascontiguousarray(g), np.ascontiguousarray(xhat), np.ascontiguousarray(rstd)  # read by address
    pick(_ln_bwd_twins(), g.size)(g, xhat, rstd, w, gx, pw, pb, need_x)
    return (gx if need_x else None, pw.sum(axis=0) if need_w else None, pb.sum(axis=0) if need_b else None)
