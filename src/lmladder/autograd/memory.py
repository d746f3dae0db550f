"""A caching allocator for the arrays of a training step (activations, gradients, kernel scratch), and its rule.

The rule, for every op, kernel and the engine's own gradient sums and copies: each array they allocate (an op's
forward output, every gradient its backward returns, every intermediate and scratch buffer) comes from this
module (`empty`, `empty_like`, `zeros`, `result` for NumPy's arithmetic dtype, `float_result` for a float function
of x), written with NumPy's `out=`. Views allocate nothing (Reshape, Permute, basic indexing, the broadcast views
a reduction's backward returns). The stated exceptions are what NumPy can only return fresh or types its own way:
advanced indexing (GetItem with index arrays, CrossEntropy's picked target logits); a reshape that cannot be a
view; reductions NumPy computes in a wider type and rounds once (sums of integers, means of integers and float16);
and integer or boolean bookkeeping (targets, row indices, masks of ignored targets). Constants made once and cached
(`kernels.filled`, the causal-mask bias) are not per-step allocations.

Why: every step allocates the same arrays again. glibc serves each big request with a fresh mmap (and trims its
heap when a step frees them), so the kernel zero-fills every page on first touch: for a 10M-parameter GPT that was
a third of the step. `empty` instead hands back an array of the same shape and dtype that nobody references any
more, as PyTorch's caching allocator does on GPU. "Nobody" is exact: the pool's list, the loop variable and
getrefcount's argument account for 3 references, and every live view of an array holds one more (NumPy views
keep their base alive), so a busy array is never handed out twice. Arrays under MIN_BYTES skip the pool (malloc's
free lists serve them as fast), so for small arrays the rule costs a function call (~0.2 us).
"""

from __future__ import annotations

import math
import sys

import numpy as np

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
    if n < MIN_BYTES:
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


def result(shape: tuple[int, ...], *arrays: np.ndarray) -> np.ndarray:
    """empty(shape) in the dtype of NumPy arithmetic on `arrays` (theirs, or the promoted one if they differ)."""
    dt = arrays[0].dtype
    for a in arrays[1:]:
        if a.dtype != dt:
            return empty(shape, np.result_type(*arrays))
    return empty(shape, dt)


def float_result(x: np.ndarray) -> np.ndarray:
    """empty(x.shape) for a float function of x (exp, tanh, a mask to divide): x's dtype if it is a float, else
    the float type NumPy's ufuncs give integers and booleans (the smallest that holds them)."""
    return empty(x.shape, x.dtype if x.dtype.kind == "f" else np.result_type(x.dtype, np.float16))


def pooled_bytes() -> int:
    return _pooled


def release() -> None:
    """Drop the pool (arrays still in use stay alive with their users); the next step starts a new one."""
    global _pooled
    _pool.clear()
    _pooled = 0
