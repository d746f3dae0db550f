"""lmladder.fast: everything lmladder runs for speed alone (compiled kernels, BLAS calls, one thread pool shared
with other processes, the array pool, chunked attention, Adam's fast step, copy-free gradient sums). The core
reaches it through one seam, `kernel(x)`: its entry points (ops.py), or None; with
LMLADDER_KERNELS=numpy it is None everywhere and the textbook code runs. lmladder.autograd and lmladder.nn import
this package, never the reverse. A map of its modules: docs/autograd.md, "The fast package"."""

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
_ops = None  # ops.py once imported; False where it cannot be (numba missing or not built for this platform)


def kernel(x: np.ndarray):
    """fast's entry points (ops.py) when they take x, else None and the caller runs its textbook lines:
    None for an array that is not float32, with the numpy backend, or where numba cannot be imported."""
    global _ops
    if x.dtype != _F32 or not on():
        return None
    if _ops is None:  # first use: import it once
        try:
            from . import ops

            _ops = ops
        except ImportError:
            _ops = False
    return _ops or None


def configure(threads: int | None = None) -> None:
    """Set `fast` up before any work: a bad LMLADDER_KERNELS or LMLADDER_GEMM (or MKL asked for and not
    installed) fails here, not mid-run; `threads` (MPI ranks sharing the cores) caps its thread count."""
    backend()
    gemm()
    if threads:
        set_threads(threads)
