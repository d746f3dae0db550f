"""random.Random(seed).shuffle(list(range(n))) compiled (numba), on an array: shuffle.py's fast path.

The generator is MT19937 as CPython's _randommodule.c runs it, started from the state Python itself seeded
(Random.getstate(): 624 words and an index), so any seed Python takes gives Python's own stream. On it, Random's
shuffle: for i = n-1 down to 1, swap x[i] with x[_randbelow(i + 1)]; _randbelow(m) draws getrandbits(k),
k = m.bit_length(), until the draw is below m; getrandbits(k) is one 32-bit output shifted right by 32 - k for
k <= 32, else 32-bit words filled from the least significant one, the last shifted as above.

Every value is held in int64 and masked to 32 bits: numba promotes uint32 with an int literal to int64 and uint64
with int64 to float64, so unsigned locals would round silently. tests/data/test_shuffle.py checks the permutation
against Python's for many seeds and sizes, and single draws against Random._randbelow past 2**32.

cache=True: numba's compiled code for this file is kept in __pycache__ beside it (as fast/kernels_jit.py's).
"""

from __future__ import annotations

import numpy as np
from numba import njit

N, M = 624, 397  # MT19937's state words and its twist offset
MATRIX_A, UPPER, LOWER, MASK = 0x9908B0DF, 0x80000000, 0x7FFFFFFF, 0xFFFFFFFF


def state_of(rng) -> np.ndarray:
    """A random.Random's generator state as an int64 array: its 624 words, then the index of the next one."""
    version, internal, _ = rng.getstate()
    if version != 3 or len(internal) != N + 1:  # CPython's Mersenne Twister, the only one this mirrors
        raise ValueError(f"unknown random.Random state (version {version}, {len(internal)} values)")
    return np.array(internal, dtype=np.int64)


@njit(cache=True, inline="always")
def _mix(a, b, c):
    """One twist step: word a's top bit and b's low 31 bits, folded into c."""
    y = (a & UPPER) | (b & LOWER)
    return c ^ (y >> 1) ^ (MATRIX_A if y & 1 else 0)


@njit(cache=True)
def _twist(mt):
    for k in range(N - M):
        mt[k] = _mix(mt[k], mt[k + 1], mt[k + M])
    for k in range(N - M, N - 1):
        mt[k] = _mix(mt[k], mt[k + 1], mt[k + M - N])
    mt[N - 1] = _mix(mt[N - 1], mt[0], mt[M - 1])
    mt[N] = 0


@njit(cache=True, inline="always")
def _next32(mt):
    """genrand_uint32: the next 32-bit output (tempered), twisting all 624 words every 624 outputs."""
    if mt[N] >= N:
        _twist(mt)
    y = mt[mt[N]]
    mt[N] += 1
    y ^= y >> 11
    y ^= (y << 7) & 0x9D2C5680
    y ^= (y << 15) & 0xEFC60000
    y ^= y >> 18
    return y & MASK


@njit(cache=True, inline="always")
def _bits(mt, k):
    """getrandbits(k), 1 <= k <= 63."""
    if k <= 32:
        return _next32(mt) >> (32 - k)
    low = _next32(mt)
    return low | ((_next32(mt) >> (64 - k)) << 32)


@njit(cache=True, inline="always")
def _below(mt, m, k):
    """_randbelow_with_getrandbits(m), k = m.bit_length(): uniform in [0, m) by rejection, Python's draws."""
    r = _bits(mt, k)
    while r >= m:
        r = _bits(mt, k)
    return r


@njit(cache=True)
def shuffle_into(x, mt):
    """Random.shuffle(x) in place from state mt (advanced as Python's would be)."""
    k = 64
    for i in range(len(x) - 1, 0, -1):
        while (i + 1) >> (k - 1) == 0:  # k = (i + 1).bit_length(), lowered as i falls past a power of two
            k -= 1
        j = _below(mt, i + 1, k)
        x[i], x[j] = x[j], x[i]


@njit(cache=True)
def draws(mt, ms):
    """_randbelow(m) for each m >= 1 in ms, in order: the tests' window on single draws."""
    out = np.empty(len(ms), dtype=np.int64)
    for t in range(len(ms)):
        k = 1
        while ms[t] >> k:
            k += 1
        out[t] = _below(mt, ms[t], k)
    return out
