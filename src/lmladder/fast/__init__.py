"""The speed wing: everything lmladder runs only for speed (compiled kernels, BLAS calls, one thread pool shared
with other processes, the array pool, chunked attention, Adam's fast step, copy-free gradient sums). The core
reaches it through one seam, `kernel(x)`: the wing's entry points (wing.py), or None; with
LMLADDER_KERNELS=numpy it is None everywhere and the textbook code runs. lmladder.autograd and lmladder.nn import
this package, never the reverse. A map of its modules: docs/autograd.md, "The speed wing"."""

import numpy as np

from .kernels import describe, gemm
from .share import news as share_news
from .share import set_width as set_threads
from .switch import KernelError, backend, on, set_backend

__all__ = [
    "KernelError",
    "backend",
    "configure",
    "describe",
    "gemm",
    "kernel",
    "set_backend",
    "set_threads",
    "share_news",
]


_F32 = np.dtype(np.float32)
_wing = None  # wing.py once imported; False where it cannot be (numba missing or not built for this platform)


def kernel(x: np.ndarray):
    """The speed wing's entry points (wing.py) when they take x, else None and the caller runs its textbook lines:
    None for an array that is not float32, with the numpy backend, or where numba cannot be imported."""
    global _wing
    if x.dtype != _F32 or not on():
        return None
    if _wing is None:  # first use: import it once
        try:
            from . import wing

            _wing = wing
        except ImportError:
            _wing = False
    return _wing or None


def configure(threads: int | None = None) -> None:
    """Set the speed wing up before any work: a bad LMLADDER_KERNELS or LMLADDER_GEMM (or MKL asked for and not
    installed) fails here, not mid-run; `threads` (MPI ranks sharing the cores) caps its thread count."""
    backend()
    gemm()
    if threads:
        set_threads(threads)
