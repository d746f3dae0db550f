"""What the compiled-kernel tests share: run a kernel on both backends, and float32 normal arrays."""

import numpy as np

from lmladder.fast import switch


def both(fn, *args):
    """fn(*args) with the NumPy reference, then with the compiled kernels (copies: outputs are pooled)."""
    out = {}
    for name in switch.BACKENDS:
        switch.set_backend(name)
        res = fn(*args)
        out[name] = [np.array(r, copy=True) for r in (res if isinstance(res, tuple) else (res,)) if r is not None]
    switch.set_backend("compiled")
    return out["numpy"], out["compiled"]


def randn(*shape, scale=1.0, seed=0):
    return (np.random.default_rng(seed).standard_normal(shape) * scale).astype(np.float32)
