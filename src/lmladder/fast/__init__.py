"""The speed wing: everything lmladder runs only for speed, behind one switch (switch.py; LMLADDER_KERNELS=numpy
turns all of it off and the NumPy reference runs).

- kernels.py: cache-blocked NumPy kernels (the reference), and the loaders of their compiled twins;
- kernels_jit.py: the compiled kernels (numba): GELU, layer norm, attention's softmax, Adam's update;
- kernels_blas.py: GEMMs and causal self-attention on numba's one thread pool, each piece one OpenBLAS call;
- attention.py, attention_core.py: attention in cache-sized blocks, flash-style;
- adam.py: Adam's whole-model step on the compiled kernel;
- gradients.py: the engine's gradient sums without copies;
- memory.py: the array pool, and outputs placed off their inputs' page offsets.

Dependencies point one way: lmladder.autograd and lmladder.nn import this package, never the reverse.
"""

from .kernels import set_threads
from .switch import KernelError, backend, set_backend

__all__ = ["KernelError", "backend", "set_backend", "set_threads"]
