"""Compiled kernels: GELU (tanh), attention's softmax and AdamW's update as fused passes (numba); layer norm's
are in layer_norm_jit.py, on the chunks and twins made here.

kernels.py's NumPy versions stay the reference: each function here takes and returns the same arrays as its
namesake there, and tests/fast/test_kernels_jit.py holds them together (AdamW's update: adam.py, which states its
algebra, and tests/fast/test_adam.py). NumPy spends 8-11
passes over memory per GELU or layer norm; here every element is read and written once, in vectorised loops.

Threads: arrays of two chunks or more (SERIAL_BELOW) are split over fixed chunks on numba's thread pool (its OpenMP
layer where libgomp is found). Once NumPy's OpenBLAS workers spun on the other core after each GEMM, and waking a
second thread cost 50-70 us, so only calls of 1M elements or more were threaded; since numba's pool does the GEMMs
too (kernels_blas.py) it is the only pool and stays warm, and threading from two chunks up made a nanoGPT-sized
step 13% faster (benchmarks/README.md, "One thread pool").

Determinism: every output element, and every partial sum, is computed by one chunk whose bounds depend only on the
shapes, never on the thread count, so 1 or 16 threads give the same bits. Only float32 comes here (kernels.py
decides): float64 is the gradcheck dtype and keeps NumPy's exact functions.

Importing this module imports numba (~0.4 s); each kernel compiles on first use (~1 s), or loads from numba's
cache in __pycache__ beside this file (cache=True). That cache is numba's own compiled code for this file, keyed to
its source and the CPU, trusted like a .pyc; lmladder never loads one from elsewhere.
"""

from __future__ import annotations

import math
import types

import numpy as np
from numba import njit, prange

from . import memory
from .memory import flat

CHUNK = 16384  # elements per parallel chunk: 64 KiB of float32, an L2-sized piece of work
SERIAL_BELOW = 2 * CHUNK  # elements: smaller calls run on the calling thread (one chunk has nothing to share)

# No nnan/ninf: a NaN must still come out as NaN (training/health.py stops on it). error_model="numpy" everywhere:
# Python's ZeroDivisionError check on every division stops the loop from vectorising (x / 0 is inf, as in NumPy).
FASTMATH = {"nsz", "arcp", "contract", "afn", "reassoc"}

_K = math.sqrt(2 / math.pi)
_KC = _K * 0.044715

# tanh(x) = x P(t) / Q(t), t = (x / 9)^2, |x| <= 9: a rational fit of our own (least squares weighted to the
# relative error, then Lawson's iteration), |error| < 3.8e-7 evaluated in float32, i.e. a few float32 ulps;
# past |x| = 8.7, tanh rounds to +-1 in float32 and so does this (exactly: GELU's backward multiplies 1 - tanh by
# a large x^3). Only *, + and / : the loop vectorises (libm's tanhf does not). GELU's gate s = 0.5 (1 + tanh)
# keeps that absolute error where s is tiny (x < -3): there GELU's gradient is off the exact one by up to 5.4e-6
# (the NumPy kernel's by 2.0e-6), on a grid of 2M points in [-12, 12].
_TANH_CLAMP = 9.0
_TANH_ONE = 8.7
_TP = (0.99999994, 10.46465289, 19.16379483, 4.92558371, -0.55027482, 0.06367621)
_TQ = (1.0, 37.46461288, 155.91292319, 121.2293496)


@njit(inline="always", fastmath=FASTMATH, error_model="numpy")
def _tanh(x):
    c = np.float32(_TANH_CLAMP)
    x = min(max(x, -c), c)
    t = x * x * np.float32(1 / _TANH_CLAMP**2)
    p = np.float32(_TP[5])
    p = p * t + np.float32(_TP[4])
    p = p * t + np.float32(_TP[3])
    p = p * t + np.float32(_TP[2])
    p = p * t + np.float32(_TP[1])
    p = p * t + np.float32(_TP[0])
    q = np.float32(_TQ[3])
    q = q * t + np.float32(_TQ[2])
    q = q * t + np.float32(_TQ[1])
    q = q * t + np.float32(_TQ[0])
    sign = np.float32(1) if x > 0 else np.float32(-1)
    return x * p / q if abs(x) < np.float32(_TANH_ONE) else sign


_LOG2E, _LN2_HI, _LN2_LO = 1.4426950408889634, 0.693359375, -2.12194440e-4  # ln 2 = HI + LO, HI exact in float32


@njit(inline="always", fastmath=FASTMATH, error_model="numpy")
def exp_neg(x):
    """exp(x) for x <= 0, 0 below -87 (and for -inf): x = r - n ln 2 with |r| <= ln2 / 2, exp(r) by its Taylor
    polynomial to r^7 (relative error < 3e-7), times 2^-n built from n's bits (no table, no bit casts: the loop
    vectorises; libm's expf does not)."""
    small = x < np.float32(-87)
    x = max(x, np.float32(-87))
    n = np.int32(np.float32(0.5) - x * np.float32(_LOG2E))  # round(-x log2 e), 0..126
    nf = np.float32(n)
    r = x + nf * np.float32(_LN2_HI) + nf * np.float32(_LN2_LO)
    p = np.float32(1 / 5040)
    p = p * r + np.float32(1 / 720)
    p = p * r + np.float32(1 / 120)
    p = p * r + np.float32(1 / 24)
    p = p * r + np.float32(1 / 6)
    p = p * r + np.float32(0.5)
    p = p * r + np.float32(1)
    p = p * r + np.float32(1)
    p = p * (np.float32(0.5) if n & 1 else np.float32(1))
    p = p * (np.float32(0.25) if n & 2 else np.float32(1))
    p = p * (np.float32(2.0**-4) if n & 4 else np.float32(1))
    p = p * (np.float32(2.0**-8) if n & 8 else np.float32(1))
    p = p * (np.float32(2.0**-16) if n & 16 else np.float32(1))
    p = p * (np.float32(2.0**-32) if n & 32 else np.float32(1))
    p = p * (np.float32(2.0**-64) if n & 64 else np.float32(1))
    return np.float32(0) if small else p


def twins(fn, **flags):
    """(serial, parallel) compiled versions of one kernel: prange is range in the serial one. The parallel one
    compiles from a renamed copy of fn: numba's cache files are named by the function's qualified name and keyed
    by its signature, not by parallel=, so two twins of one function would load whichever was cached first."""
    threaded = types.FunctionType(fn.__code__, fn.__globals__, fn.__name__ + "_threaded")
    threaded.__qualname__ = fn.__qualname__ + "_threaded"
    flags = {"fastmath": FASTMATH, "error_model": "numpy", "cache": True, **flags}
    return njit(**flags)(fn), njit(parallel=True, **flags)(threaded)


def elementwise(fn, fastmath=FASTMATH):
    """(serial, parallel) for a kernel that treats each element of its flat arrays alone, written as one plain loop
    over them (a span): both walk the same fixed chunks, one after the other or on the pool, and call the span's
    one compiled loop on each, so they are the same machine code. Compiled apart, fastmath's reassociation let
    LLVM order GELU's backward differently in each (half its elements differed by an ulp on a Zen 3), and which one
    ran depended on the array's size.

    Why a span per chunk: LLVM vectorises a loop over a slice's range(size), but the inner loop of
    range(lo, hi) over the whole array ran 2.7x (GELU's forward) to 5x (a sum) slower, with the same bits (checked
    for native, haswell and znver3 code on 4M values and the special ones)."""
    span = njit(fastmath=fastmath, error_model="numpy", cache=True)(fn)
    template = _EACH_CHUNK[fn.__code__.co_argcount]
    # numba keys its cache by the file a function's code names: the kernel's file, so that editing the kernel
    # recompiles the chunk loop that holds its code; and its own name (see twins)
    code = template.__code__.replace(co_filename=fn.__code__.co_filename)

    def chunks(suffix: str, parallel: bool):
        loop = types.FunctionType(code, {**template.__globals__, "_SPAN": span}, fn.__name__ + suffix)
        loop.__qualname__ = fn.__qualname__ + suffix
        return njit(parallel=parallel, fastmath=fastmath, error_model="numpy", cache=True)(loop)

    return chunks("_each", False), chunks("_chunks", True)


def _each_chunk3(a, b, c):
    n = a.size
    for k in prange((n + CHUNK - 1) // CHUNK):
        lo, hi = k * CHUNK, min(n, (k + 1) * CHUNK)
        _SPAN(a[lo:hi], b[lo:hi], c[lo:hi])  # noqa: F821 (bound by elementwise)


def _each_chunk4(a, b, c, d):
    n = a.size
    for k in prange((n + CHUNK - 1) // CHUNK):
        lo, hi = k * CHUNK, min(n, (k + 1) * CHUNK)
        _SPAN(a[lo:hi], b[lo:hi], c[lo:hi], d[lo:hi])  # noqa: F821 (bound by elementwise)


_EACH_CHUNK = {3: _each_chunk3, 4: _each_chunk4}


def pick(twins, n: int):
    return twins[n >= SERIAL_BELOW]  # by size alone: the bits never depend on the thread count


def _gelu_tanh_fwd(x, y, s):
    """y = x s, s = 0.5 (1 + tanh(K (x + c x^3))); flat float32 arrays."""
    for i in range(x.size):
        v = x[i]
        u = v * (np.float32(_K) + np.float32(_KC) * v * v)
        t = np.float32(0.5) + np.float32(0.5) * _tanh(u)
        s[i] = t
        y[i] = v * t


def _add(a, b, out):
    """out = a + b; flat float32 arrays."""
    for i in range(a.size):
        out[i] = a[i] + b[i]


def _gelu_tanh_bwd(x, s, g, out):
    """out = g s (1 + (1 - s) x (2K + 6Kc x^2)), as kernels.gelu_tanh_backward; compiled without reassociation, in
    the order LLVM chose when it could reassociate (and gathered each vector instead of loading it), so runs keep
    their bits."""
    for i in range(x.size):
        v, t = x[i], s[i]
        w = (np.float32(1) - t) * v * (v * v * np.float32(6 * _KC) + np.float32(2 * _K))
        out[i] = g[i] * t * (w + np.float32(1))


@njit(error_model="numpy", cache=True)  # no fastmath: bit-equal to NumPy
def _adam_span(g, m, v, w, h):
    """g' = g + l2 w (l2 0: g), m = b1 m + a1 g', v = b2 v + a2 g'^2 (a = 1 - b), w = w decay - step m / (sqrt(v) +
    eps2), in place: adam.py's algebra, each float32 operation in the order NumPy would run it. h holds the float32
    scalars (l2, decay, b1, a1, b2, a2, eps2, step): `adam_scalars`."""
    l2, decay, b1, a1, b2, a2, eps2, step = h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7]
    for i in range(g.size):
        gi = g[i] + w[i] * l2 if l2 else g[i]
        mi = m[i] * b1 + gi * a1
        vi = v[i] * b2 + gi * gi * a2
        m[i] = mi
        v[i] = vi
        w[i] = w[i] * decay - mi / (np.sqrt(vi) + eps2) * step


def _adam(g, m, v, w, h):
    """_adam_span over fixed chunks; a span of its own per chunk, because without fastmath LLVM vectorises the
    plain loop over a slice but not the inner loop of range(lo, hi) (4x slower, scalar sqrt and division)."""
    n = g.size
    for ck in prange((n + CHUNK - 1) // CHUNK):
        lo = ck * CHUNK
        hi = min(n, lo + CHUNK)
        _adam_span(g[lo:hi], m[lo:hi], v[lo:hi], w[lo:hi], h)


def _softmax_cols(p, lse):
    """Each column of every (S, T) matrix of p (n, S, T), key-major scores: p <- softmax over the column (axis -2),
    lse (n, T) <- its log-sum-exp. Three passes per matrix while it sits in L1/L2: max, exp and sum, scale; rows
    run along the contiguous query axis, so every pass is a vector loop."""
    n, S, T = p.shape
    for b in prange(n):
        mat = p[b]
        m = np.full(T, -np.inf, np.float32)
        for j in range(S):
            for t in range(T):
                m[t] = max(m[t], mat[j, t])
        total = np.zeros(T, np.float32)
        for j in range(S):
            for t in range(T):
                e = exp_neg(mat[j, t] - m[t])
                mat[j, t] = e
                total[t] += e
        for t in range(T):
            lse[b, t] = np.log(total[t]) + m[t]
            total[t] = np.float32(1) / total[t]
        for j in range(S):
            for t in range(T):
                mat[j, t] *= total[t]


_ADD = elementwise(_add)
_GELU_FWD = elementwise(_gelu_tanh_fwd)
_GELU_BWD = elementwise(_gelu_tanh_bwd, fastmath=FASTMATH - {"reassoc"})
_SOFTMAX = twins(_softmax_cols)
_ADAM = twins(_adam, fastmath=False)


def add(a, b):
    out = memory.placed(a, 3072)
    pick(_ADD, a.size)(flat(a), flat(b), out.reshape(-1))
    return out


def gelu_tanh_forward(x, keep: bool = True):
    """(y, s); keep False (no graph): s is not kept, the kernel writes it into y, which it writes after (None)."""
    y = memory.placed(x, 3072)
    s = memory.placed(x, 2048) if keep else y
    pick(_GELU_FWD, x.size)(flat(x), y.reshape(-1), s.reshape(-1))
    return y, s if keep else None


def gelu_tanh_backward(x, s, g):
    out = memory.placed(g, 2560)
    pick(_GELU_BWD, x.size)(flat(x), flat(s), flat(g), out.reshape(-1))
    return out


def softmax_cols(p, lse) -> None:
    """p (b, h, S, T) key-major scores, a contiguous array: softmax over axis -2 in place; lse (b, h, 1, T) <- the
    log-sum-exp per query."""
    b, h, S, T = p.shape
    pick(_SOFTMAX, p.size)(p.reshape(b * h, S, T), lse.reshape(b * h, T))


def adam_scalars(b1: float, b2: float, eps2: float, step: float, decay: float | None, l2: float = 0) -> np.ndarray:
    """One Adam step's scalars for `adam`, rounded to float32 as NumPy rounds them: w <- w * decay - update (decay
    None: w - update), l2 > 0 adding l2 * w to the gradient."""
    return np.array([l2, 1 if decay is None else decay, b1, 1 - b1, b2, 1 - b2, eps2, step], np.float32)


def adam(g, m, v, w, h) -> None:
    """One parameter's Adam step on flat float32 vectors: m, v and the weight w updated in place; h from
    `adam_scalars`."""
    pick(_ADAM, g.size)(g, m, v, w, h)
