"""Elementwise primitives. Binary ops broadcast like NumPy; the engine sums gradients back to input shapes."""

from __future__ import annotations

import math

import numpy as np

from .. import fast
from .engine import AutogradError, Function, Tensor

# Abramowitz & Stegun 7.1.26: |error| < 1.5e-7, float32's rounding level
_AS_P = 0.3275911
_AS_A = (0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429)
_math_erf = np.vectorize(math.erf, otypes=[np.float64])


def erf_array(x: np.ndarray) -> np.ndarray:
    """The error function of an array: exact (libm's) in float64, else A&S 7.1.26 evaluated in float64."""
    if x.dtype == np.float64:
        return _math_erf(x) if x.ndim else np.float64(math.erf(float(x)))
    ax = np.abs(x, dtype=np.float64)
    t = 1 / (1 + _AS_P * ax)
    poly = t * (_AS_A[0] + t * (_AS_A[1] + t * (_AS_A[2] + t * (_AS_A[3] + t * _AS_A[4]))))
    return np.copysign(1 - poly * np.exp(-ax * ax), x).astype(x.dtype, copy=False)


def as_tensor(x, like: Tensor | None = None) -> Tensor:
    """Wrap a constant as a no-grad tensor; Python/NumPy floats take `like`'s dtype so float32 stays float32."""
    if isinstance(x, Tensor):
        return x
    arr = np.asarray(x)
    if like is not None and arr.dtype.kind in "fiub" and like.data.dtype.kind == "f" and arr.dtype != like.dtype:
        if arr.dtype.kind == "f" or arr.ndim == 0:
            arr = arr.astype(like.data.dtype)
    return Tensor(arr)


class Add(Function):
    __slots__ = ()

    def forward(self, a, b):
        if a.shape == b.shape and a.dtype == b.dtype and (k := fast.kernel(a)) is not None:
            return k.add(a, b)  # a residual stream's sum: threaded, into pooled memory
        return a + b

    def backward(self, g):
        return g, g


class Sub(Function):
    __slots__ = ()

    def forward(self, a, b):
        return a - b

    def backward(self, g):
        return g, (-g if self.needs[1] else None)


class Mul(Function):
    __slots__ = ("a", "b")

    def forward(self, a, b):
        self.a, self.b = a, b
        return a * b

    def backward(self, g):
        return (g * self.b if self.needs[0] else None), (g * self.a if self.needs[1] else None)


class Div(Function):
    __slots__ = ("b", "out")

    def forward(self, a, b):
        self.b = b
        self.out = a / b
        return self.out

    def backward(self, g):
        ga = g / self.b if self.needs[0] else None
        gb = -g * self.out / self.b if self.needs[1] else None  # d(a/b)/db = -(a/b)/b
        return ga, gb


class Neg(Function):
    __slots__ = ()

    def forward(self, a):
        return -a

    def backward(self, g):
        return (-g,)


class Pow(Function):
    """x ** p for a constant scalar exponent p."""

    __slots__ = ("x", "p")

    def forward(self, x, exponent):
        if not np.isscalar(exponent):
            raise AutogradError(
                f"Pow: exponent must be a Python/NumPy scalar, got {type(exponent).__name__}; "
                "for a tensor exponent use exp(b * log(a))"
            )
        self.x, self.p = x, exponent
        return x**exponent

    def backward(self, g):
        return (g * (self.p * self.x ** (self.p - 1)),)


class Exp(Function):
    __slots__ = ("out",)

    def forward(self, x):
        self.out = np.exp(x)
        return self.out

    def backward(self, g):
        return (g * self.out,)


class Log(Function):
    __slots__ = ("x",)

    def forward(self, x):
        self.x = x
        return np.log(x)

    def backward(self, g):
        return (g / self.x,)


class Tanh(Function):
    __slots__ = ("out",)

    def forward(self, x):
        self.out = np.tanh(x)
        return self.out

    def backward(self, g):
        return (g * (1 - self.out * self.out),)


class Relu(Function):
    __slots__ = ("mask",)

    def forward(self, x):
        self.mask = x > 0
        return np.maximum(x, 0)

    def backward(self, g):
        return (g * self.mask,)


class Sigmoid(Function):
    __slots__ = ("out",)

    def forward(self, x):
        # exp never sees a positive number, so large |x| never overflows
        e = np.exp(-np.abs(x))
        self.out = np.where(x >= 0, 1 / (1 + e), e / (1 + e))
        return self.out

    def backward(self, g):
        return (g * self.out * (1 - self.out),)


class Erf(Function):
    __slots__ = ("x",)

    def forward(self, x):
        self.x = x
        return erf_array(x)

    def backward(self, g):
        return (g * (2 / math.sqrt(math.pi)) * np.exp(-self.x * self.x),)


# ---------------------------------------------------------------------- functional wrappers
def add(a, b):
    a = a if isinstance(a, Tensor) else as_tensor(a)  # inline: tensor operands skip a Python call
    return Add.apply(a, b if isinstance(b, Tensor) else as_tensor(b, a))


def sub(a, b):
    a = a if isinstance(a, Tensor) else as_tensor(a)  # inline: tensor operands skip a Python call
    return Sub.apply(a, b if isinstance(b, Tensor) else as_tensor(b, a))


def mul(a, b):
    a = a if isinstance(a, Tensor) else as_tensor(a)  # inline: tensor operands skip a Python call
    return Mul.apply(a, b if isinstance(b, Tensor) else as_tensor(b, a))


def div(a, b):
    a = a if isinstance(a, Tensor) else as_tensor(a)  # inline: tensor operands skip a Python call
    return Div.apply(a, b if isinstance(b, Tensor) else as_tensor(b, a))


def neg(a):
    return Neg.apply(as_tensor(a))


def pow(a, exponent):  # noqa: A001 - mirrors the operator name
    return Pow.apply(as_tensor(a), exponent=exponent)


def exp(x):
    return Exp.apply(as_tensor(x))


def log(x):
    return Log.apply(as_tensor(x))


def tanh(x):
    return Tanh.apply(as_tensor(x))


def relu(x):
    return Relu.apply(as_tensor(x))


def sigmoid(x):
    return Sigmoid.apply(as_tensor(x))


def erf(x):
    return Erf.apply(as_tensor(x))
