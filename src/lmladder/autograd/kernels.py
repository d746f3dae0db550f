"""Cache-blocked NumPy kernels behind the fused primitives (GELU, layer norm).

NumPy runs one pass over memory per ufunc call and allocates a fresh temporary for every intermediate. For an
expression of ten ufuncs over a (B, T, 4C) activation that is ten trips to DRAM and ten page-faulting
allocations. These kernels instead walk the array in chunks small enough for the L2 cache, write every
intermediate into one reused scratch buffer with `out=`, and allocate nothing but the result.
"""

from __future__ import annotations

import math

import numpy as np

from . import memory
from .ops_elementwise import erf_np

CHUNK = 65536  # elements per chunk: 256 KiB of float32, so inputs, scratch and output stay in L2

_K = math.sqrt(2 / math.pi)
_C = 0.044715
_INV_SQRT2 = 1 / math.sqrt(2)
_INV_SQRT2PI = 1 / math.sqrt(2 * math.pi)


def _flat(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x).reshape(-1)


def _out(x: np.ndarray) -> np.ndarray:
    """A (pooled) result array shaped like x, and its flat view."""
    out = memory.empty(x.shape, x.dtype)
    return out, out.reshape(-1)


def _chunks(n: int, step: int | None = None):
    step = step or CHUNK
    for i in range(0, n, step):
        yield slice(i, min(i + step, n))


def dropout_scale(rng: np.random.Generator, shape, dtype: np.dtype, p: float) -> np.ndarray:
    """Inverted-dropout multiplier of `shape`: 1 / (1 - p) where kept, 0 where dropped (probability p), in dtype.

    Uniforms are drawn in dtype, or in float64 where Generator.random has no such dtype (float16)."""
    draw = dtype if dtype in (np.float32, np.float64) else np.float64
    return (rng.random(shape, dtype=draw) >= p) * dtype.type(1 / (1 - p))


def gelu_tanh_forward(x: np.ndarray):
    """(y, s): y = x s with s = 0.5 (1 + tanh(u)), u = K (x + c x^3), K = sqrt(2/pi), c = 0.044715.

    s is kept for backward, which then needs 9 passes instead of 15 with tanh recomputed."""
    xf = _flat(x)
    result, out = _out(x)
    half, sf = _out(x)
    k, kc = x.dtype.type(_K), x.dtype.type(_K * _C)
    for sl in _chunks(xf.size):
        xc, oc, sc = xf[sl], out[sl], sf[sl]
        np.multiply(xc, xc, out=sc)
        sc *= kc
        sc += k
        sc *= xc  # u = K x + K c x^3
        np.tanh(sc, out=sc)
        sc += 1
        sc *= 0.5
        np.multiply(xc, sc, out=oc)
    return result, half


def gelu_tanh_backward(x: np.ndarray, s: np.ndarray, g: np.ndarray) -> np.ndarray:
    """g * gelu'(x) = g * s (1 + (1 - s) x (2K + 6Kc x^2)), using 1 - tanh(u)^2 = 4 s (1 - s)."""
    xf, sf, gf = _flat(x), _flat(s), _flat(g)
    result, out = _out(x)
    w = np.empty(min(CHUNK, xf.size), x.dtype)
    k2, kc6 = x.dtype.type(2 * _K), x.dtype.type(6 * _K * _C)
    for sl in _chunks(xf.size):
        xc, sc, oc, wc = xf[sl], sf[sl], out[sl], w[: sl.stop - sl.start]
        np.multiply(xc, xc, out=wc)
        wc *= kc6
        wc += k2
        wc *= xc  # 2 x K (1 + 3c x^2)
        np.subtract(1, sc, out=oc)
        oc *= wc
        oc += 1
        oc *= sc
        oc *= gf[sl]
    return result


def gelu_erf_forward(x: np.ndarray):
    """(y, Phi): y = x Phi(x) with Phi(x) = 0.5 (1 + erf(x / sqrt 2)), Phi kept for backward."""
    xf = _flat(x)
    result, out = _out(x)
    cdf, cf = _out(x)
    for sl in _chunks(xf.size):
        xc, oc, pc = xf[sl], out[sl], cf[sl]
        np.multiply(erf_np(xc * x.dtype.type(_INV_SQRT2)), 0.5, out=pc)
        pc += 0.5
        np.multiply(xc, pc, out=oc)
    return result, cdf


def gelu_erf_backward(x: np.ndarray, cdf: np.ndarray, g: np.ndarray) -> np.ndarray:
    """g * (Phi(x) + x phi(x))."""
    xf, cf, gf = _flat(x), _flat(cdf), _flat(g)
    result, out = _out(x)
    for sl in _chunks(xf.size):
        xc, oc = xf[sl], out[sl]
        np.multiply(xc, xc, out=oc)
        oc *= -0.5
        np.exp(oc, out=oc)
        oc *= x.dtype.type(_INV_SQRT2PI)
        oc *= xc  # x phi(x)
        oc += cf[sl]
        oc *= gf[sl]
    return result


def layer_norm_forward(x: np.ndarray, w: np.ndarray | None, b: np.ndarray | None, eps: float):
    """(y, xhat, rstd) for rows of x (N, C): xhat = (x - mean) * rstd, y = xhat * w + b.

    Row sums are GEMVs against a ones vector: NumPy's last-axis reductions over short rows are several times
    slower than BLAS."""
    N, C = x.shape
    y, xhat = memory.empty_like(x), memory.empty_like(x)
    rstd = np.empty(N, x.dtype)
    ones = np.full(C, 1 / C, x.dtype)  # (C,): x @ ones is the row mean
    for sl in _chunks(N, max(1, CHUNK // C)):
        xc, hc, yc, rc = x[sl], xhat[sl], y[sl], rstd[sl]
        np.matmul(xc, ones, out=rc)  # mean (rstd's slot as scratch)
        np.subtract(xc, rc[:, None], out=hc)
        np.multiply(hc, hc, out=yc)  # y as scratch for the squares
        np.matmul(yc, ones, out=rc)  # variance
        rc += eps
        np.sqrt(rc, out=rc)
        np.divide(1, rc, out=rc)
        hc *= rc[:, None]
        if w is not None:
            np.multiply(hc, w, out=yc)
        else:
            yc[...] = hc
        if b is not None:
            yc += b
    return y, xhat, rstd


def layer_norm_backward(g, xhat, rstd, w, need_x: bool, need_w: bool, need_b: bool):
    """(gx, gw, gb), each None unless needed: gx = rstd * (gxhat - mean(gxhat) - xhat * mean(gxhat * xhat))."""
    N, C = g.shape
    gx = memory.empty_like(g) if need_x else None
    gw = np.zeros(C, g.dtype) if need_w else None
    gb = np.zeros(C, g.dtype) if need_b else None
    step = max(1, CHUNK // C)
    ones_c = np.full(C, 1 / C, g.dtype)  # (C,): a @ ones_c is the row mean
    ones_r = np.ones(min(step, N), g.dtype)  # (rows,): ones_r @ a sums the rows of a chunk
    s = np.empty((min(step, N), C), g.dtype)
    m1, m2 = np.empty(min(step, N), g.dtype), np.empty(min(step, N), g.dtype)
    for sl in _chunks(N, step):
        n = sl.stop - sl.start
        gc, hc, sc, o = g[sl], xhat[sl], s[:n], ones_r[:n]
        if need_w:
            np.multiply(gc, hc, out=sc)
            gw += o @ sc  # (rows,) @ (rows, C) -> (C,)
        if need_b:
            gb += o @ gc
        if not need_x:
            continue
        oc = gx[sl]
        if w is not None:
            np.multiply(gc, w, out=oc)  # gxhat
        else:
            oc[...] = gc
        np.matmul(oc, ones_c, out=m1[:n])
        np.multiply(oc, hc, out=sc)
        np.matmul(sc, ones_c, out=m2[:n])
        np.multiply(hc, m2[:n, None], out=sc)
        oc -= sc
        oc -= m1[:n, None]
        oc *= rstd[sl, None]
    return gx, gw, gb
