"""Cache-blocked NumPy kernels behind the fused primitives (GELU, layer norm, erf, dropout masks), and the loaders
of their compiled twins.

NumPy runs one pass over memory per ufunc call and allocates a fresh temporary for every intermediate. For an
expression of ten ufuncs over a (B, T, 4C) activation that is ten trips to DRAM and ten page-faulting
allocations. These kernels instead walk the array in chunks small enough for the L2 cache and write every
intermediate into reused scratch buffers with `out=`; results and scratch come from the pool (memory.py's rule).

On float32 arrays GELU (tanh) and layer norm hand over to their compiled twins in kernels_jit.py (numba: one fused
pass per kernel, threaded on large arrays), as do attention's softmax (attention_core.py) and AdamW's update
(adam.py); the NumPy code here is their reference, and the whole path for every other dtype and for the numpy
backend (switch.py). Linear's GEMMs (`matmul`) and causal self-attention go to kernels_blas.py: one thread pool
(numba's) for the whole step.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from . import memory, share, switch
from .memory import filled, flat

CHUNK = 65536  # elements per chunk: 256 KiB of float32, so inputs, scratch and output stay in L2
SPLIT_ROWS = 64  # a GEMM split over threads gets at least this many output rows per chunk
_K = math.sqrt(2 / math.pi)
_C = 0.044715
_INV_SQRT2 = 1 / math.sqrt(2)
_INV_SQRT2PI = 1 / math.sqrt(2 * math.pi)


@functools.cache
def _load_jit():
    try:
        from . import kernels_jit
    except ImportError:  # numba missing or not built for this platform: the reference does the work
        return None
    share.state()  # numba's pool on the thread count asked for (share.py decides it again while the process runs)
    return kernels_jit


def compiled(x: np.ndarray):
    """The compiled kernels module when it takes x (float32, the compiled backend, numba importable), else None."""
    if x.dtype != np.float32 or not switch.on():
        return None
    return _load_jit()


@functools.cache
def _load_blas():
    try:
        from . import kernels_blas
    except ImportError:  # NumPy's BLAS is not the OpenBLAS of its wheels
        return None
    return kernels_blas


def gemm() -> str:
    """The library behind the compiled kernels' GEMMs: "openblas", "mkl" (LMLADDER_GEMM) or "numpy" (the numpy
    backend). A bad LMLADDER_GEMM, or MKL asked for and missing, raises KernelError here; only MKL loads the GEMM
    kernels to find out (a count model's run never needs them)."""
    from .gemm_library import choice

    name = choice()
    if not switch.on():
        return "numpy"
    if name == "mkl":
        _load_blas()
    return name


def describe() -> str:
    """One log line: which kernels and GEMMs a run uses, and on how many threads."""
    if not switch.on():
        return "kernels: the NumPy reference (LMLADDER_KERNELS=numpy), GEMMs by NumPy's matmul"
    if _load_jit() is None:
        return "kernels: the NumPy reference (numba cannot be imported here), GEMMs by NumPy's matmul"
    lib = {"openblas": "NumPy's OpenBLAS", "mkl": "Intel MKL"}[gemm()] if _load_blas() else "NumPy's matmul"
    return f"kernels: compiled, GEMMs by {lib}; {share.summary()}"


def blas(x: np.ndarray):
    """kernels_blas (GEMMs and attention on the compiled kernels' thread pool) when it takes x, else None."""
    return _load_blas() if compiled(x) is not None else None


_small_on_one_thread = False  # set once NumPy's OpenBLAS is held to one thread for the small products


def matmul(a: np.ndarray, b: np.ndarray, out: np.ndarray) -> np.ndarray:
    """out = a @ b for 2-D arrays: in row chunks over the compiled kernels' threads when out has 2 * SPLIT_ROWS
    rows or more (in the chunks of two threads at one thread: the same bits), else NumPy's on the calling thread
    (checked in that order: a decoded token's GEMMs pay ~0.1 us).

    Why one thread for the small ones: OpenBLAS threads a GEMV of 128 x 384 already, so its worker must be
    scheduled for each of a decoded token's ~20 products, and on a shared machine a descheduled worker stalls the
    token (benchmarks/README.md, 2026-11-24, "Generation on a shared machine")."""
    global _small_on_one_thread
    split = out.shape[0] >= 2 * SPLIT_ROWS and a.dtype == out.dtype == b.dtype and (k := blas(out)) is not None
    if not (split and k.matmul(a, b, out, SPLIT_ROWS)):
        if not _small_on_one_thread and (k := blas(out)) is not None:
            k.hold_openblas()
            _small_on_one_thread = True
        np.matmul(a, b, out=out)
    return out


def matmul_pair(a, b, out, a2, b2, out2) -> None:
    """out = a @ b and out2 = a2 @ b2: side by side, one product per thread, where both split into row chunks
    (kernels_blas.matmul_pair: the bits of two `matmul` calls), else two `matmul` calls."""
    big = min(out.shape[0], out2.shape[0]) >= 2 * SPLIT_ROWS  # checked first: an MLP's 32-row products pay ~0.1 us
    same = big and a.dtype == b.dtype == out.dtype == a2.dtype == b2.dtype == out2.dtype
    if not (same and (k := blas(out)) is not None and k.matmul_pair(a, b, out, a2, b2, out2, SPLIT_ROWS)):
        matmul(a, b, out)
        matmul(a2, b2, out2)


def _out(x: np.ndarray) -> np.ndarray:
    """A (pooled) result array shaped like x, and its flat view."""
    out = memory.empty(x.shape, x.dtype)
    return out, out.reshape(-1)


def _chunks(n: int, step: int | None = None):
    """slice(0, step), slice(step, 2 step), ... covering range(n); one slice when it fits (a decoded token)."""
    step = step or CHUNK
    if n <= step:
        return (slice(0, n),)
    return [slice(i, min(i + step, n)) for i in range(0, n, step)]


def dropout_scale(rng: np.random.Generator, shape, dtype: np.dtype, p: float) -> np.ndarray:
    """Inverted-dropout multiplier of `shape`: 1 / (1 - p) where kept, 0 where dropped (probability p), in dtype.

    Uniforms are drawn in dtype, or in float64 where Generator.random has no such dtype (float16)."""
    draw = dtype if dtype in (np.float32, np.float64) else np.float64
    u = rng.random(shape, dtype=draw, out=memory.empty(shape, draw))
    keep = np.greater_equal(u, p, out=memory.empty(shape, np.bool_))
    return np.multiply(keep, dtype.type(1 / (1 - p)), out=memory.empty(shape, dtype))


# Abramowitz & Stegun 7.1.26: |error| < 1.5e-7, i.e. float32 rounding level, at ~10 NumPy passes.
_AS_P = 0.3275911
_AS_A = (0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429)
_math_erf = np.vectorize(math.erf, otypes=[np.float64])


def erf(x: np.ndarray) -> np.ndarray:
    """Error function on arrays: exact (libm) in float64; otherwise the A&S 7.1.26 fit (|err| < 1.5e-7)."""
    if x.dtype == np.float64:
        return _math_erf(x) if x.ndim else np.float64(math.erf(float(x)))
    ax = np.abs(x, dtype=np.float64)  # evaluate in float64 so only the fit's own error remains
    t = 1 / (1 + _AS_P * ax)
    poly = t * (_AS_A[0] + t * (_AS_A[1] + t * (_AS_A[2] + t * (_AS_A[3] + t * _AS_A[4]))))
    y = 1 - poly * np.exp(-ax * ax)
    return np.copysign(y, x).astype(x.dtype, copy=False)


def add(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a + b for arrays of one shape and dtype, into a pooled array (the residual stream's sums); NumPy's add for
    fewer than CHUNK elements (a decoded token's sum costs less than the call of a compiled kernel)."""
    if a.size >= CHUNK and (jit := compiled(a)):
        return jit.add(a, b)
    return np.add(a, b, out=memory.empty(a.shape, a.dtype))


def gelu_tanh_forward(x: np.ndarray):
    """(y, s): y = x s with s = 0.5 (1 + tanh(u)), u = K (x + c x^3), K = sqrt(2/pi), c = 0.044715.

    s is kept for backward, which then needs 9 passes instead of 15 with tanh recomputed."""
    if jit := compiled(x):
        return jit.gelu_tanh_forward(x)
    xf = flat(x)
    result, out = _out(x)
    s, sf = _out(x)
    t = x.dtype.type  # typed constants: a Python scalar costs each ufunc call more
    k, kc, one, half = t(_K), t(_K * _C), t(1), t(0.5)
    for sl in _chunks(xf.size):
        xc, oc, sc = xf[sl], out[sl], sf[sl]
        np.multiply(xc, xc, out=sc)
        sc *= kc
        sc += k
        sc *= xc  # u = K x + K c x^3
        np.tanh(sc, out=sc)
        sc += one
        sc *= half
        np.multiply(xc, sc, out=oc)
    return result, s


def gelu_tanh_backward(x: np.ndarray, s: np.ndarray, g: np.ndarray) -> np.ndarray:
    """g * gelu'(x) = g * s (1 + (1 - s) x (2K + 6Kc x^2)), using 1 - tanh(u)^2 = 4 s (1 - s)."""
    if jit := compiled(x):
        return jit.gelu_tanh_backward(x, s, g)
    xf, sf, gf = flat(x), flat(s), flat(g)
    result, out = _out(x)
    w = memory.empty((min(CHUNK, xf.size),), x.dtype)
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
    xf = flat(x)
    result, out = _out(x)
    cdf, cf = _out(x)
    for sl in _chunks(xf.size):
        xc, oc, pc = xf[sl], out[sl], cf[sl]
        np.multiply(erf(xc * x.dtype.type(_INV_SQRT2)), 0.5, out=pc)
        pc += 0.5
        np.multiply(xc, pc, out=oc)
    return result, cdf


def gelu_erf_backward(x: np.ndarray, cdf: np.ndarray, g: np.ndarray) -> np.ndarray:
    """g * (Phi(x) + x phi(x))."""
    xf, cf, gf = flat(x), flat(cdf), flat(g)
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
    if jit := compiled(x):
        return jit.layer_norm_forward(x, w, b, eps)
    N, C = x.shape
    y, xhat = memory.empty_like(x), memory.empty_like(x)
    rstd = memory.empty((N,), x.dtype)
    ones = filled(C, 1 / C, x.dtype)  # (C,): x @ ones is the row mean
    eps, one = x.dtype.type(eps), x.dtype.type(1)  # typed: a Python scalar costs a ufunc call more
    for sl in _chunks(N, max(1, CHUNK // C)):
        xc, hc, yc, rc = x[sl], xhat[sl], y[sl], rstd[sl]
        col = rc[:, None]  # (rows, 1)
        np.matmul(xc, ones, out=rc)  # mean (rstd's slot as scratch)
        np.subtract(xc, col, out=hc)
        np.multiply(hc, hc, out=yc)  # y as scratch for the squares
        np.matmul(yc, ones, out=rc)  # variance
        rc += eps
        np.sqrt(rc, out=rc)
        np.divide(one, rc, out=rc)
        hc *= col
        if w is not None:
            np.multiply(hc, w, out=yc)
        else:
            yc[...] = hc
        if b is not None:
            yc += b
    return y, xhat, rstd


def layer_norm_backward(g, xhat, rstd, w, need_x: bool, need_w: bool, need_b: bool):
    """(gx, gw, gb), each None unless needed: gx = rstd * (gxhat - mean(gxhat) - xhat * mean(gxhat * xhat))."""
    if jit := compiled(g):
        return jit.layer_norm_backward(g, xhat, rstd, w, need_x, need_w, need_b)
    N, C = g.shape
    gx = memory.empty_like(g) if need_x else None
    gw = memory.zeros((C,), g.dtype) if need_w else None
    gb = memory.zeros((C,), g.dtype) if need_b else None
    step = max(1, CHUNK // C)
    ones_c = filled(C, 1 / C, g.dtype)  # (C,): a @ ones_c is the row mean
    ones_r = filled(min(step, N), 1, g.dtype)  # (rows,): ones_r @ a sums the rows of a chunk
    s = memory.empty((min(step, N), C), g.dtype)
    m1, m2 = memory.empty((min(step, N),), g.dtype), memory.empty((min(step, N),), g.dtype)
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
