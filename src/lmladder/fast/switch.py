"""The one switch of `fast`: "compiled" (the default) runs it; "numpy" (`set_backend("numpy")`, or
LMLADDER_KERNELS=numpy) turns all of it off: every primitive, the engine's gradient sums and the optimizers run
exactly the code a reader reads (fast.kernel answers None)."""

from __future__ import annotations

import os

from ..errors import LmladderError

ENV = "LMLADDER_KERNELS"
BACKENDS = ("compiled", "numpy")
_backend: str | None = None  # None: read from the environment on first use


class KernelError(LmladderError, ValueError):
    """An unknown kernel backend."""


def set_backend(name: str) -> None:
    """ "compiled": `fast` where it applies (the default); "numpy": the textbook code only."""
    global _backend
    if name not in BACKENDS:
        raise KernelError(f"kernel backend {name!r} is unknown; use compiled (the default) or numpy")
    _backend = name


def backend() -> str:
    """The backend in use: set_backend's, else LMLADDER_KERNELS's, else "compiled"."""
    if _backend is None:
        name = os.environ.get(ENV) or "compiled"
        if name not in BACKENDS:
            raise KernelError(f"{ENV}={name!r} is not a kernel backend; set it to compiled (the default) or numpy")
        set_backend(name)
    return _backend


def on() -> bool:
    """Whether `fast` runs (LMLADDER_KERNELS=compiled)."""
    return (_backend or backend()) == "compiled"
