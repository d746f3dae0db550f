"""A caching allocator for the big arrays of a training step (activations, gradients, kernel scratch), and its rule.

The rule: the pool belongs to `fast`. The kernels, the fused primitives built on them (autograd's ops_nn.py,
ops_attention.py) and the engine's gradient sums (gradients.py) may allocate through this module (`empty`,
`empty_like`, `zeros`) with NumPy's `out=`, where a measured step gains from it. The plain primitives
(ops_elementwise, ops_reduce, ops_shape) are the readable reference, NumPy expressions as micrograd writes them,
and never touch the pool (tests/test_imports.py checks it); what a model runs hot goes through fused primitives.
Views allocate nothing; constants made once and cached (`filled`, the causal-mask bias) are not per-step
allocations. With the numpy backend (switch.py) the pool is off: `empty` is np.empty.

Why: every step allocates the same arrays again. glibc serves each big request with a fresh mmap (and trims its
heap when a step frees them), so the kernel zero-fills every page on first touch: for a 10M-parameter GPT that costs
a third of the step. `empty` instead hands back an array of the same shape and dtype that nobody references any
more, as PyTorch's caching allocator does on GPU. "Nobody" is exact: the pool's list, the loop variable and
getrefcount's argument account for 3 references, and every live view of an array holds one more (NumPy views
keep their base alive), so a busy array is never handed out twice. Arrays under MIN_BYTES skip the pool (malloc's
free lists serve them as fast), so for small arrays the rule costs a function call (~0.2 us).
"""

from __future__ import annotations

import functools
import math
import sys
import tracemalloc

import numpy as np

from . import switch

MIN_BYTES = 1 << 16  # below this, malloc's own free lists are already fast
LIMIT_BYTES = 8 << 30  # past this many pooled bytes, allocate without pooling
_FREE_REFS = 3  # the pool's list + the loop variable + getrefcount's argument

_pool: dict[tuple, list[np.ndarray]] = {}
_pooled = 0


def empty(shape: tuple[int, ...], dtype) -> np.ndarray:
    """np.empty(shape, dtype), reusing a pooled array of that shape and dtype when one is free."""
    global _pooled
    count = math.prod(shape)
    if count * 16 < MIN_BYTES:  # small whatever the dtype (16 bytes at most an element): the common quick exit
        return np.empty(shape, dtype)
    dtype = np.dtype(dtype)
    n = dtype.itemsize * count
    if n < MIN_BYTES or not switch.on():
        return np.empty(shape, dtype)
    key = (shape, dtype.char)
    arrays = _pool.get(key)
    if arrays is None:
        arrays = _pool[key] = []
    for a in arrays:
        if sys.getrefcount(a) == _FREE_REFS:
            return a
    a = np.empty(shape, dtype)
    if _pooled + n <= LIMIT_BYTES:
        arrays.append(a)
        _pooled += n
    return a


def empty_like(a: np.ndarray) -> np.ndarray:
    return empty(a.shape, a.dtype)


def zeros(shape: tuple[int, ...], dtype) -> np.ndarray:
    a = empty(shape, dtype)
    a.fill(0)
    return a


def flat(x: np.ndarray) -> np.ndarray:
    """x as a flat C-ordered vector: a view, or a pooled copy when x is strided."""
    if not x.flags.c_contiguous:
        c = empty(x.shape, x.dtype)
        np.copyto(c, x)
        x = c
    return x.reshape(-1)


@functools.lru_cache(maxsize=64)
def filled(n: int, value: float, dtype: np.dtype) -> np.ndarray:
    """A read-only (n,) vector of `value`: the constant operand of the GEMV reductions (x @ ones), made once."""
    v = np.full(n, value, dtype)
    v.flags.writeable = False
    return v


def pooled_bytes() -> int:
    return _pooled


def release() -> None:
    """Drop the pool (arrays still in use stay alive with their users); the next step starts a new one."""
    global _pooled
    _pool.clear()
    _pooled = 0


def traced_peak(fn) -> int:
    """Bytes allocated at the peak of fn(), beyond what was live before it, from an empty pool (tracemalloc counts
    NumPy's buffers): what a forward or a step of some shape needs, measured rather than modelled."""
    release()
    tracing = tracemalloc.is_tracing()
    if not tracing:
        tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    try:
        fn()
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        if not tracing:
            tracemalloc.stop()
        release()
    return max(peak - base, 0)


PAGE = 4096
SKEW_FROM = 16384  # elements: smaller arrays are not placed (their loops are short)


def placed(ref: np.ndarray, skew: int) -> np.ndarray:
    """A pooled array shaped like ref whose address is `skew` bytes past ref's, modulo a page.

    Why: a load stalls behind a pending store whose address matches it in the low 12 bits (4K aliasing). glibc puts
    consecutive allocations 16 bytes apart modulo a page, so a kernel streaming x into the y and s allocated right
    after it stalls on every vector: GELU's forward runs 5x slower inside a training step than alone. An output
    1-2 KiB *behind* its input (skew 2048-3072) is never the address of a load soon after its store."""
    n = ref.size
    if n < SKEW_FROM:
        return empty(ref.shape, ref.dtype)
    buf = empty((n + PAGE // ref.itemsize,), ref.dtype)
    start = ((ref.ctypes.data + skew - buf.ctypes.data) % PAGE) // ref.itemsize
    return buf[start : start + n].reshape(ref.shape)
