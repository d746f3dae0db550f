"""Dropout's multiplier drawn from the words Generator.random(dtype=float32) reads, with a compiled pass (numba).

`kernels.dropout_scale` draws uniforms in float32 and compares them with p: for NumPy's PCG64 each uniform is
(w >> 8) 2^-24 of one 32-bit word w, and the words come a 64-bit draw at a time, its low half first, the high half
buffered in the generator for the next word (the state's has_uint32 and uinteger). `random_raw` draws the same
64-bit values without the per-word buffer test, in 0.6 of the time, and one compiled pass turns their words into the
multiplier. The mask and the generator's state afterwards are those of the textbook draw, bit for bit
(tests/fast/test_dropout_jit.py); any other generator, or dtype, keeps NumPy's draw.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from . import memory
from .kernels_jit import CHUNK, FASTMATH, pick, twins


@njit(fastmath=FASTMATH, error_model="numpy", cache=True)
def _scale_span(words, p, scale, out):
    """out = scale where the word's uniform (w >> 8) 2^-24 is >= p, else 0: exact (24-bit integers times 2^-24)."""
    for i in range(words.size):
        u = np.float32(words[i] >> np.uint32(8)) * np.float32(2.0**-24)
        out[i] = scale if u >= p else np.float32(0)


def _scale(words, p, scale, out):
    n = words.size
    for ck in prange((n + CHUNK - 1) // CHUNK):
        lo = ck * CHUNK
        hi = min(n, lo + CHUNK)
        _scale_span(words[lo:hi], p, scale, out[lo:hi])


_SCALE = twins(_scale)


def words(bitgen: np.random.PCG64, n: int) -> np.ndarray:
    """The n 32-bit words Generator.random(n, dtype=float32) would read from bitgen, and bitgen left in the state
    that call leaves, to the buffer (its buffered half word used first; the last draw's high half kept in the
    buffer, flagged unused or used)."""
    state = bitgen.state
    held = min(state["has_uint32"], n)
    raw = bitgen.random_raw((n - held + 1) // 2).view(np.uint32)  # low half, high half of each draw
    out = raw
    if held or raw.size != n:
        out = np.empty(n, np.uint32)
        out[:held] = state["uinteger"]
        out[held:] = raw[: n - held]
    after = bitgen.state
    after["has_uint32"] = int(raw.size > n - held) if raw.size else state["has_uint32"] - held
    after["uinteger"] = int(raw[-1]) if raw.size else state["uinteger"]
    bitgen.state = after
    return out


def dropout_scale(rng: np.random.Generator, shape, p: float) -> np.ndarray:
    """kernels.dropout_scale's float32 multiplier (1 / (1 - p) kept, 0 dropped) into a pooled array, its bits,
    for a Generator on PCG64."""
    n = int(np.prod(shape))
    w = words(rng.bit_generator, n)
    out = memory.empty(tuple(shape), np.float32)
    pick(_SCALE, n)(w, np.float32(p), np.float32(1 / (1 - p)), out.reshape(-1))
    return out
