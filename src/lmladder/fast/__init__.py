"""The speed wing: everything lmladder runs only for speed (compiled kernels, BLAS calls, one thread pool, the array
pool, chunked attention, Adam's fast step, copy-free gradient sums), behind one switch: LMLADDER_KERNELS=numpy
turns all of it off and the NumPy reference runs (switch.py). lmladder.autograd and lmladder.nn import this
package, never the reverse. A map of its modules: docs/autograd.md, "The speed wing"."""

from .kernels import describe, gemm
from .share import news as share_news
from .share import set_width as set_threads
from .switch import KernelError, backend, set_backend

__all__ = ["KernelError", "backend", "describe", "gemm", "set_backend", "set_threads", "share_news"]
