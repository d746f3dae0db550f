"""Dropout's multiplier drawn from the words Generator.random(dtype=float32) reads, with a compiled pass (numba).

`kernels.dropout_scale` draws uniforms in float32 and compares them with p: for NumPy's PCG64 each uniform is
(w >> 8) 2^-24 of one 32-bit word w, and the words come a 64-bit draw at a time, its low half first, the high half
buffered in the generator for the next word (the state's has_uint32 and uinteger). PCG64's next_uint64 (what
`random_raw` calls) draws the same 64-bit values without the per-word buffer test, in 0.6 of the time; the draws
are cut into parts, one per thread of the pool, each from a copy of the generator jumped ahead to its start
(PCG64's advance), and a compiled pass turns their words into the multiplier. The mask and the generator's state
afterwards are those of the textbook draw, bit for bit (tests/fast/test_dropout_jit.py); any other generator, or
dtype, keeps NumPy's draw. Dropout's forward makes its mask and x mask in that one pass, and its backward's product
runs on the pool.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from . import memory
from .kernels_jit import CHUNK, FASTMATH, elementwise, pick, twins
from .memory import flat
from .share import width


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


def _draw(next64, states, bounds, raw):
    """raw[bounds[i]:bounds[i + 1]] <- 64-bit draws of the generator state at address states[i], one part per turn
    of the pool; next64: PCG64's own next_uint64 (what random_raw calls)."""
    for i in prange(states.size):
        st = states[i]
        for j in range(bounds[i], bounds[i + 1]):
            raw[j] = next64(st)


_DRAW = twins(_draw)
MIN_PART = 16384  # draws: a smaller call is one part
_helpers: list[np.random.PCG64] = []  # the later parts' generators, kept between calls (one Python thread draws)


def _parts(bitgen: np.random.PCG64, state: dict, m: int) -> tuple[list, np.ndarray]:
    """(generators, bounds): m draws cut into width() parts (the cut never changes the bits), part i drawn by a
    generator started where bitgen will be after bounds[i] draws (PCG64 jumps ahead in log(n) steps)."""
    parts = max(1, min(width(), m // MIN_PART))
    bounds = np.array([m * i // parts for i in range(parts + 1)], np.int64)
    while len(_helpers) < parts - 1:
        _helpers.append(np.random.PCG64(0))
    gens = [bitgen, *_helpers[: parts - 1]]
    for gen, start in zip(gens[1:], bounds[1:-1], strict=True):
        gen.state = state
        gen.advance(int(start))
    return gens, bounds


def words(bitgen: np.random.PCG64, n: int) -> np.ndarray:
    """The n 32-bit words Generator.random(n, dtype=float32) would read from bitgen, and bitgen left in the state
    that call leaves, to the buffer (its buffered half word used first; the last draw's high half kept in the
    buffer, flagged unused or used)."""
    state = bitgen.state
    held = min(state["has_uint32"], n)
    m = (n - held + 1) // 2  # 64-bit draws, each a low and a high half word
    gens, bounds = _parts(bitgen, state, m)
    raw = memory.empty((m,), np.uint64)
    states = np.array([g.ctypes.state_address for g in gens], np.int64)
    _DRAW[len(gens) > 1](bitgen.ctypes.next_uint64, states, bounds, raw)  # on the pool when cut in parts
    half = raw.view(np.uint32)
    out = half
    if held or half.size != n:
        out = np.empty(n, np.uint32)
        out[:held] = state["uinteger"]
        out[held:] = half[: n - held]
    after = gens[-1].state
    after["has_uint32"] = int(half.size > n - held) if m else state["has_uint32"] - held
    after["uinteger"] = int(half[-1]) if m else state["uinteger"]
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


@njit(fastmath=FASTMATH, error_model="numpy", cache=True)
def _apply_span(words, x, p, scale, mask, y):
    """_scale_span's mask, and y = x mask in the same pass (one rounding: NumPy's multiply's bits)."""
    for i in range(words.size):
        u = np.float32(words[i] >> np.uint32(8)) * np.float32(2.0**-24)
        m = scale if u >= p else np.float32(0)
        mask[i] = m
        y[i] = x[i] * m


def _apply(words, x, p, scale, mask, y):
    n = words.size
    for ck in prange((n + CHUNK - 1) // CHUNK):
        lo = ck * CHUNK
        hi = min(n, lo + CHUNK)
        _apply_span(words[lo:hi], x[lo:hi], p, scale, mask[lo:hi], y[lo:hi])


def _mul(a, b, out):
    """out = a b; flat float32 arrays."""
    for i in range(a.size):
        out[i] = a[i] * b[i]


_APPLY = twins(_apply)
_MUL = elementwise(_mul)


def dropout(x: np.ndarray, rng: np.random.Generator, p: float) -> tuple[np.ndarray, np.ndarray]:
    """(x mask, mask) for float32 x and a Generator on PCG64: Dropout's forward, `dropout_scale`'s mask, one pass."""
    w = words(rng.bit_generator, x.size)
    mask, y = memory.empty(x.shape, np.float32), memory.placed(x, 3072)
    pick(_APPLY, x.size)(w, flat(x), np.float32(p), np.float32(1 / (1 - p)), mask.reshape(-1), y.reshape(-1))
    return y, mask


def multiply(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a b for float32 arrays of one shape, into a pooled array (Dropout's backward)."""
    out = memory.placed(a, 2560)
    pick(_MUL, a.size)(flat(a), flat(b), out.reshape(-1))
    return out
