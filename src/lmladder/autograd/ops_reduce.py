"""Reductions (sum, mean, max over axes), running sums and matrix multiplication."""

from __future__ import annotations

import numpy as np

from .engine import AutogradError, Function
from .ops_elementwise import as_tensor


def _norm_axes(axis, ndim: int) -> tuple[int, ...]:
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    return tuple(sorted(a % ndim for a in axes))


def _expand(g: np.ndarray, axes: tuple[int, ...], keepdims: bool) -> np.ndarray:
    """Put back the reduced dims as size 1 so g broadcasts against the input."""
    return g if keepdims or not axes else np.expand_dims(g, axes)


class Sum(Function):
    __slots__ = ("in_shape", "axes", "keepdims")

    def forward(self, x, axis=None, keepdims=False):
        self.in_shape, self.axes, self.keepdims = x.shape, _norm_axes(axis, x.ndim), keepdims
        return np.sum(x, axis=self.axes, keepdims=keepdims)

    def backward(self, g):
        return (np.broadcast_to(_expand(g, self.axes, self.keepdims), self.in_shape),)


class Mean(Function):
    __slots__ = ("in_shape", "axes", "keepdims", "count")

    def forward(self, x, axis=None, keepdims=False):
        self.in_shape, self.axes, self.keepdims = x.shape, _norm_axes(axis, x.ndim), keepdims
        self.count = int(np.prod([x.shape[a] for a in self.axes]))
        return np.mean(x, axis=self.axes, keepdims=keepdims)

    def backward(self, g):
        return (np.broadcast_to(_expand(g, self.axes, self.keepdims) / self.count, self.in_shape),)


class Max(Function):
    """Max over axes; tied maxima share the gradient equally (the subgradient of amax)."""

    __slots__ = ("mask", "axes", "keepdims")

    def forward(self, x, axis=None, keepdims=False):
        self.axes, self.keepdims = _norm_axes(axis, x.ndim), keepdims
        out = np.max(x, axis=self.axes, keepdims=True)
        mask = (x == out).astype(x.dtype)
        self.mask = mask / mask.sum(axis=self.axes, keepdims=True)
        return out if keepdims else np.squeeze(out, axis=self.axes)

    def backward(self, g):
        return (self.mask * _expand(g, self.axes, self.keepdims),)


class CumSum(Function):
    """Running sum along one axis; backward is the running sum of the gradient taken from the other end."""

    __slots__ = ("axis",)

    def forward(self, x, axis=-1):
        self.axis = axis
        return np.cumsum(x, axis=axis)

    def backward(self, g):
        return (np.flip(np.cumsum(np.flip(g, self.axis), axis=self.axis), self.axis),)


class MatMul(Function):
    """a @ b for 2-D and batched N-D operands; batch dims broadcast like NumPy."""

    __slots__ = ("a", "b")

    def forward(self, a, b):
        if a.ndim < 2 or b.ndim < 2 or a.shape[-1] != b.shape[-2]:
            raise AutogradError(
                f"MatMul: shapes {a.shape} @ {b.shape} do not match; need (..., n, k) @ (..., k, m) "
                "(reshape 1-D vectors to (1, k) or (k, 1))"
            )
        self.a, self.b = a, b
        if b.ndim == 2 and a.ndim > 2:  # one big GEMM instead of a loop over the batch
            return (a.reshape(-1, a.shape[-1]) @ b).reshape(*a.shape[:-1], b.shape[-1])
        return a @ b

    def backward(self, g):
        a, b = self.a, self.b
        flat = b.ndim == 2 and a.ndim > 2
        ga = gb = None
        if self.needs[0]:
            if flat:
                ga = (g.reshape(-1, g.shape[-1]) @ b.T).reshape(a.shape)
            else:
                ga = g @ np.swapaxes(b, -1, -2)
        if self.needs[1]:
            if flat:  # sum over the batch inside the GEMM
                gb = a.reshape(-1, a.shape[-1]).T @ g.reshape(-1, g.shape[-1])
            else:
                gb = np.swapaxes(a, -1, -2) @ g
        return ga, gb


# ---------------------------------------------------------------------- functional wrappers
def sum(x, axis=None, keepdims: bool = False):  # noqa: A001 - mirrors numpy
    return Sum.apply(as_tensor(x), axis=axis, keepdims=keepdims)


def mean(x, axis=None, keepdims: bool = False):
    return Mean.apply(as_tensor(x), axis=axis, keepdims=keepdims)


def max(x, axis=None, keepdims: bool = False):  # noqa: A001 - mirrors numpy
    return Max.apply(as_tensor(x), axis=axis, keepdims=keepdims)


def cumsum(x, axis: int = -1):
    return CumSum.apply(as_tensor(x), axis=axis)


def matmul(a, b):
    a = as_tensor(a)
    return MatMul.apply(a, as_tensor(b, a))
