"""Dropout's multiplier drawn from the words Generator.random(dtype=float32) reads, with a compiled pass (numba).

`kernels.dropout_scale` draws uniforms in float32 and compares them with p: for NumPy's PCG64 each uniform is
(w >> 8) 2^-24 of one 32-bit word w, and the words come a 64-bit draw at a time, its low half first, the high half
buffered in the generator for the next word (the state's has_uint32 and uinteger). The 64-bit draws are PCG64's
own arithmetic compiled here (`_next64`, NumPy's pcg64.h: a 128-bit LCG step, then the XSL-RR output), without the
per-word buffer test nor a call through a function pointer per draw: about 2.5x NumPy's float32 draw; they are cut
into parts, one per thread of the pool, each from the state jumped ahead to its start (PCG64's advance), and a
compiled pass turns their words into the multiplier. The mask and the generator's state
afterwards are those of the textbook draw, bit for bit (tests/fast/test_dropout_jit.py); any other generator, or
dtype, keeps NumPy's draw. Dropout's forward makes its mask and x mask in that one pass, and its backward's product
runs on the pool.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, prange, types
from numba.extending import intrinsic

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


@intrinsic
def _mulhi(typingctx, a, b):
    """The high 64 bits of the 128-bit product of two uint64 (LLVM's i128: one MUL; numba has no 128-bit type)."""

    def codegen(context, builder, signature, args):
        wide = ir.IntType(128)
        product = builder.mul(builder.zext(args[0], wide), builder.zext(args[1], wide))
        return builder.trunc(builder.lshr(product, ir.Constant(wide, 64)), ir.IntType(64))

    return types.uint64(types.uint64, types.uint64), codegen


_MUL_HI, _MUL_LO = np.uint64(0x2360ED051FC65DA4), np.uint64(0x4385DF649FCCF645)  # PCG64's 128-bit multiplier
_LOW64 = (1 << 64) - 1


@njit(inline="always", error_model="numpy")
def _next64(hi, lo, inc_hi, inc_lo):
    """PCG64's next draw from the state hi:lo: (hi, lo, draw) with state <- state * multiplier + inc (mod 2^128),
    draw = the new state's XSL-RR output (its two halves xor-ed, rotated right by its top 6 bits)."""
    low = lo * _MUL_LO
    hi = _mulhi(lo, _MUL_LO) + hi * _MUL_LO + lo * _MUL_HI
    lo = low + inc_lo
    hi = hi + inc_hi + (np.uint64(1) if lo < low else np.uint64(0))
    x, rot = hi ^ lo, hi >> np.uint64(58)
    return hi, lo, (x >> rot) | (x << ((np.uint64(64) - rot) & np.uint64(63)))


@njit(inline="always", error_model="numpy", cache=True)
def _draw_span(hi, lo, inc_hi, inc_lo, raw, start, stop):
    """raw[start:stop] <- 64-bit draws from the state hi:lo; returns the state after them."""
    for j in range(start, stop):
        hi, lo, w = _next64(hi, lo, inc_hi, inc_lo)
        raw[j] = w
    return hi, lo


def _draw(his, los, inc_hi, inc_lo, bounds, raw):
    """raw[bounds[i]:bounds[i + 1]] <- 64-bit draws from the state his[i]:los[i], one part per turn of the pool;
    each part's state after its draws back into his[i], los[i]."""
    for i in prange(his.size):
        his[i], los[i] = _draw_span(his[i], los[i], inc_hi, inc_lo, raw, bounds[i], bounds[i + 1])


_DRAW = njit(parallel=True, error_model="numpy", cache=True)(_draw)  # a lone part is _draw_span itself
MIN_PART = 16384  # draws: a smaller call is one part
_helper = np.random.PCG64(0)  # jumps ahead to the later parts' starts (one Python thread draws)


def _parts(state: dict, m: int, parts: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(his, los, bounds): m draws cut into `parts` (the cut never changes the bits), part i starting from the state
    the generator `state` reaches after bounds[i] draws (PCG64 jumps ahead in log(n) steps)."""
    bounds = np.array([m * i // parts for i in range(parts + 1)], np.int64)
    starts = [state["state"]["state"]]
    for start in bounds[1:-1]:
        _helper.state = state
        _helper.advance(int(start))
        starts.append(_helper.state["state"]["state"])
    his = np.array([s >> 64 for s in starts], np.uint64)
    los = np.array([s & _LOW64 for s in starts], np.uint64)
    return his, los, bounds


def words(bitgen: np.random.PCG64, n: int) -> np.ndarray:
    """The n 32-bit words Generator.random(n, dtype=float32) would read from bitgen, and bitgen left in the state
    that call leaves, to the buffer (its buffered half word used first; the last draw's high half kept in the
    buffer, flagged unused or used)."""
    state = bitgen.state
    held = min(state["has_uint32"], n)
    m = (n - held + 1) // 2  # 64-bit draws, each a low and a high half word
    raw = memory.empty((m,), np.uint64)
    start, inc = state["state"]["state"], state["state"]["inc"]
    inc_hi, inc_lo = np.uint64(inc >> 64), np.uint64(inc & _LOW64)
    parts = max(1, min(width(), m // MIN_PART))
    if parts == 1:
        hi, lo = _draw_span(np.uint64(start >> 64), np.uint64(start & _LOW64), inc_hi, inc_lo, raw, 0, m)
    else:  # on the pool
        his, los, bounds = _parts(state, m, parts)
        _DRAW(his, los, inc_hi, inc_lo, bounds, raw)
        hi, lo = his[-1], los[-1]
    half = raw.view(np.uint32)
    out = half
    if held or half.size != n:
        out = np.empty(n, np.uint32)
        out[:held] = state["uinteger"]
        out[held:] = half[: n - held]
    after = {**state, "state": {"state": int(hi) << 64 | int(lo), "inc": inc}}
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
