"""makemore's document shuffle as an array: the permutation random.Random(seed).shuffle gives a list of n items.

split_lines (in memory) and streaming_lines.split_order (a corpus bigger than memory) both shuffle documents with
random.Random(split_seed); the permutation depends on n and the seed only, so it is computed on the numbers 0..n-1
and the documents are gathered in that order. Shuffling a Python list of n ints holds ~44 bytes per item (a pointer
and an int object) and takes ~0.6 us an item; here the same permutation is 4 bytes an item (uint32 below 2**32
items) and ~0.05 us an item (shuffle_jit.py, numba).

Below JIT_FROM items Python's own shuffle is quicker than importing numba, and it is the fallback where numba cannot
be imported: the same permutation either way (tests/data/test_shuffle.py).
"""

from __future__ import annotations

import functools
import random

import numpy as np

JIT_FROM = 1 << 16  # items: smaller shuffles stay in Python (~40 ms at most; importing numba takes ~0.4 s)


def shuffled_range(n: int, seed) -> np.ndarray:
    """list(range(n)) after random.Random(seed).shuffle, as uint32 (int64 from 2**32 items)."""
    dtype = np.uint32 if n <= 1 << 32 else np.int64
    rng = random.Random(seed)  # noqa: S311 - makemore's reproducible split, not cryptography
    if n >= JIT_FROM and (jit := _load_jit()) is not None:
        order = np.arange(n, dtype=dtype)
        jit.shuffle_into(order, jit.state_of(rng))
        return order
    order = list(range(n))
    rng.shuffle(order)
    return np.array(order, dtype=dtype)


@functools.cache
def _load_jit():
    try:
        from . import shuffle_jit
    except ImportError:  # numba missing or not built for this platform: Python's shuffle does the work
        return None
    return shuffle_jit
