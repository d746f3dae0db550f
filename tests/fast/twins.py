"""What the tests of lmladder.fast share: run a primitive on both backends (the textbook lines, then fast's
kernels), and float32 normal arrays."""

import numpy as np

from lmladder.autograd import Tensor
from lmladder.fast import switch


def both(fn, *args):
    """fn(*args) with the numpy backend, then with the compiled one (copies: fast's outputs are pooled)."""
    out = {}
    for name in switch.BACKENDS:
        switch.set_backend(name)
        try:
            res = fn(*args)
        finally:
            switch.set_backend("compiled")
        out[name] = [np.array(r, copy=True) for r in (res if isinstance(res, tuple) else (res,)) if r is not None]
    return out["numpy"], out["compiled"]


def through(op, arrays, grad, needs=None):
    """(output, *gradients of the inputs that need one) of op(*tensors) for upstream grad."""
    needs = needs or [True] * len(arrays)
    ts = [Tensor(a, requires_grad=n) for a, n in zip(arrays, needs, strict=True)]
    y = op(*ts)
    y.backward(grad)
    return (y.data, *(t.grad for t in ts if t.requires_grad))


def randn(*shape, scale=1.0, seed=0):
    return (np.random.default_rng(seed).standard_normal(shape) * scale).astype(np.float32)
