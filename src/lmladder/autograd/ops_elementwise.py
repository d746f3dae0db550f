"""Elementwise primitives. Binary ops broadcast like NumPy; the engine sums gradients back to input shapes."""

from __future__ import annotations

import math

import numpy as np

from . import kernels as K
from . import memory
from .engine import AutogradError, Function, Tensor


def as_tensor(x, like: Tensor | None = None) -> Tensor:
    """Wrap a constant as a no-grad tensor; Python/NumPy floats take `like`'s dtype so float32 stays float32."""
    if isinstance(x, Tensor):
        return x
    arr = np.asarray(x)
    if like is not None and arr.dtype.kind in "fiub" and like.data.dtype.kind == "f" and arr.dtype != like.dtype:
        if arr.dtype.kind == "f" or arr.ndim == 0:
            arr = arr.astype(like.data.dtype)
    return Tensor(arr)


def _result(a, b) -> np.ndarray:
    """A pooled array for the broadcast result of a op b."""
    shape = a.shape if a.shape == b.shape else np.broadcast(a, b).shape
    return memory.empty(shape, a.dtype if a.dtype == b.dtype else np.result_type(a, b))


class Add(Function):
    __slots__ = ()

    def forward(self, a, b):
        return np.add(a, b, out=_result(a, b))

    def backward(self, g):
        return g, g


class Sub(Function):
    __slots__ = ()

    def forward(self, a, b):
        return np.subtract(a, b, out=_result(a, b))

    def backward(self, g):
        return g, (np.negative(g, out=memory.empty_like(g)) if self.needs[1] else None)


class Mul(Function):
    __slots__ = ("a", "b")

    def forward(self, a, b):
        self.a, self.b = a, b
        return np.multiply(a, b, out=_result(a, b))

    def backward(self, g):
        ga = np.multiply(g, self.b, out=_result(g, self.b)) if self.needs[0] else None
        gb = np.multiply(g, self.a, out=_result(g, self.a)) if self.needs[1] else None
        return ga, gb


class Div(Function):
    __slots__ = ("b", "out")

    def forward(self, a, b):
        self.b = b
        self.out = np.divide(a, b, out=_result(a, b))
        return self.out

    def backward(self, g):
        ga = np.divide(g, self.b, out=_result(g, self.b)) if self.needs[0] else None
        gb = None
        if self.needs[1]:  # d(a/b)/db = -(a/b)/b
            gb = np.multiply(g, self.out, out=memory.result(g.shape, g, self.out, self.b))
            gb /= self.b
            np.negative(gb, out=gb)
        return ga, gb


class Neg(Function):
    __slots__ = ()

    def forward(self, a):
        return np.negative(a, out=memory.empty_like(a))

    def backward(self, g):
        return (np.negative(g, out=memory.empty_like(g)),)


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
        return np.power(x, exponent, out=memory.empty(x.shape, np.result_type(x, exponent)))

    def backward(self, g):
        gx = np.power(self.x, self.p - 1, out=memory.empty(g.shape, np.result_type(g, self.x, self.p)))
        gx *= self.p
        gx *= g  # g * p x^(p-1)
        return (gx,)


class Exp(Function):
    __slots__ = ("out",)

    def forward(self, x):
        self.out = np.exp(x, out=memory.float_result(x))
        return self.out

    def backward(self, g):
        return (np.multiply(g, self.out, out=_result(g, self.out)),)


class Log(Function):
    __slots__ = ("x",)

    def forward(self, x):
        self.x = x
        return np.log(x, out=memory.float_result(x))

    def backward(self, g):
        return (np.divide(g, self.x, out=_result(g, self.x)),)


class Tanh(Function):
    __slots__ = ("out",)

    def forward(self, x):
        self.out = np.tanh(x, out=memory.float_result(x))
        return self.out

    def backward(self, g):
        gx = np.multiply(self.out, self.out, out=memory.empty_like(self.out))
        np.subtract(1, gx, out=gx)
        gx *= g  # g * (1 - tanh^2), one buffer
        return (gx,)


class Relu(Function):
    __slots__ = ("mask",)

    def forward(self, x):
        self.mask = np.greater(x, 0, out=memory.empty(x.shape, np.bool_))
        return np.maximum(x, 0, out=memory.empty_like(x))

    def backward(self, g):
        return (np.multiply(g, self.mask, out=memory.empty_like(g)),)


class Sigmoid(Function):
    __slots__ = ("out",)

    def forward(self, x):
        # 1 / (1 + e) for x >= 0, e / (1 + e) below, with e = exp(-|x|): exp of a non-positive number only, so
        # large |x| never overflows
        e = np.abs(x, out=memory.float_result(x))
        np.negative(e, out=e)
        np.exp(e, out=e)
        den = np.add(e, 1, out=memory.empty_like(e))
        np.copyto(e, 1, where=np.greater_equal(x, 0, out=memory.empty(x.shape, np.bool_)))  # the numerator
        self.out = np.divide(e, den, out=e)
        return self.out

    def backward(self, g):
        gx = np.multiply(g, self.out, out=_result(g, self.out))
        gx *= np.subtract(1, self.out, out=memory.empty_like(self.out))
        return (gx,)


class Erf(Function):
    __slots__ = ("x",)

    def forward(self, x):
        self.x = x
        return K.erf(x)

    def backward(self, g):
        e = np.multiply(self.x, self.x, out=memory.empty_like(self.x))
        np.negative(e, out=e)
        np.exp(e, out=e)  # exp(-x^2)
        gx = np.multiply(g, 2 / math.sqrt(math.pi), out=_result(g, e))
        gx *= e
        return (gx,)


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
