"""The loaders of the compiled kernels (kernels_jit.py: numba) and of the GEMMs on the one thread pool
(kernels_blas.py), and the small pieces the rest of `fast` shares: Linear's GEMMs (`matmul`, `matmul_pair`), the
residual sum (`add`) and dropout's pooled masks.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from . import memory, share, switch

CHUNK = 65536  # elements: a smaller sum stays NumPy's add on the calling thread
SPLIT_ROWS = 64  # a GEMM split over threads gets at least this many output rows per chunk
RAW_DRAWS_FROM = 8192  # elements: a smaller dropout mask is NumPy's draw (dropout_jit's fixed ~10 us outweighs)


@functools.cache
def _load_jit():
    try:
        from . import kernels_jit
    except ImportError:  # numba missing or not built for this platform: the reference does the work
        return None
    share.state()  # numba's pool on the thread count asked for (share.py decides it again while the process runs)
    return kernels_jit


def compiled(x: np.ndarray):
    """The compiled kernels module when it takes x (float32, LMLADDER_KERNELS=compiled, numba importable), else None."""
    if x.dtype != np.float32 or not switch.on():
        return None
    return _load_jit()


@functools.cache
def _load_dropout():
    if _load_jit() is None:  # numba missing: NumPy's draw
        return None
    from . import dropout_jit

    return dropout_jit


@functools.cache
def _load_blas():
    try:
        from . import kernels_blas
    except ImportError:  # NumPy's BLAS is not the OpenBLAS of its wheels
        return None
    return kernels_blas


def gemm() -> str:
    """The library behind the compiled kernels' GEMMs: "openblas", "mkl" (LMLADDER_GEMM) or "numpy" (the numpy
    backend, or NumPy's BLAS is not the OpenBLAS of its wheels: Accelerate on macOS, MKL). A bad LMLADDER_GEMM, or
    MKL asked for and missing, raises KernelError here; only MKL loads the GEMM kernels to find out (a count model's
    run never needs them)."""
    from .gemm_library import choice, openblas

    name = choice()
    if not switch.on():
        return "numpy"
    if name == "mkl":
        _load_blas()
    else:
        try:
            openblas()
        except ImportError:  # kernels_blas cannot load either: NumPy's matmul does the GEMMs
            return "numpy"
    return name


def describe() -> str:
    """One log line: which kernels and GEMMs a run uses, and on how many threads."""
    if not switch.on():
        return "kernels: the textbook code (LMLADDER_KERNELS=numpy), GEMMs by NumPy's matmul"
    if _load_jit() is None:
        return "kernels: the textbook code (numba cannot be imported here), GEMMs by NumPy's matmul"
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


def raw_draws(rng: np.random.Generator, shape, dtype: np.dtype) -> bool:
    """Whether dropout_jit.py draws this mask: float32 from a PCG64, RAW_DRAWS_FROM elements or more (below, its
    fixed cost eats what the faster draws save: they break even at about 4,096 on a Zen 3)."""
    return dtype == np.float32 and type(rng.bit_generator) is np.random.PCG64 and math.prod(shape) >= RAW_DRAWS_FROM


def dropout_scale(rng: np.random.Generator, shape, dtype: np.dtype, p: float) -> np.ndarray:
    """Inverted-dropout multiplier of `shape`: 1 / (1 - p) where kept, 0 where dropped (probability p), in dtype.

    Uniforms are drawn in dtype, or in float64 where Generator.random has no such dtype (float16); by dropout_jit.py
    where `raw_draws` says so and numba can be imported (the same bits)."""
    if raw_draws(rng, shape, dtype) and (d := _load_dropout()) is not None:
        return d.dropout_scale(rng, shape, p)
    draw = dtype if dtype in (np.float32, np.float64) else np.float64
    u = rng.random(shape, dtype=draw, out=memory.empty(shape, draw))
    keep = np.greater_equal(u, p, out=memory.empty(shape, np.bool_))
    return np.multiply(keep, dtype.type(1 / (1 - p)), out=memory.empty(shape, dtype))


def add(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a + b for arrays of one shape and dtype, into a pooled array (the residual stream's sums); NumPy's add for
    fewer than CHUNK elements (a decoded token's sum costs less than the call of a compiled kernel)."""
    if a.size >= CHUNK and (jit := compiled(a)):
        return jit.add(a, b)
    return np.add(a, b, out=memory.empty(a.shape, a.dtype))
