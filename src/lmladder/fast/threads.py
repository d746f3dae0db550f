"""Independent pieces of work side by side on the cores, for work that is many small NumPy calls rather than one
large kernel: Muon orthogonalises every hidden matrix on its own (a few 128 x 512 GEMMs each). NumPy's OpenBLAS is
held to one thread during a step (kernels_blas.py), so run one after another these would leave the second core idle.

Each piece runs exactly the NumPy code it would run alone, on one BLAS thread, so the results are the same bits in
any order; idle workers wait on a lock (they never spin against numba's pool)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from . import share
from .kernels import blas

_pools: dict[int, ThreadPoolExecutor] = {}  # by thread count


def map_on_cores(fn: Callable, items: Sequence, like: np.ndarray) -> list:
    """[fn(x) for x in items], on the compiled kernels' thread count when it is above one and NumPy's OpenBLAS can
    be held to one thread (arrays like `like`); in order on the calling thread otherwise."""
    k = blas(like)
    n = share.threads() if k is not None else 1
    if n < 2 or len(items) < 2:
        return list(map(fn, items))
    k.hold_openblas()  # two callers of a 2-thread OpenBLAS would put four threads on two cores
    if n not in _pools:
        _pools[n] = ThreadPoolExecutor(n, thread_name_prefix="lmladder-cores")
    return list(_pools[n].map(fn, items))
