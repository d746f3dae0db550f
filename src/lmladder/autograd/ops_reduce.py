"""Reductions (sum, mean, max over axes) and matrix multiplication."""

from __future__ import annotations

import numpy as np

from . import memory
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


def _reduced(shape: tuple[int, ...], axes: tuple[int, ...], keepdims: bool) -> tuple[int, ...]:
    """The shape of a reduction over axes."""
    return tuple(1 if i in axes else n for i, n in enumerate(shape) if keepdims or i not in axes)


class Sum(Function):
    __slots__ = ("in_shape", "axes", "keepdims")

    def forward(self, x, axis=None, keepdims=False):
        self.in_shape, self.axes, self.keepdims = x.shape, _norm_axes(axis, x.ndim), keepdims
        # integers and booleans keep NumPy's promotion (int8 sums to int64), so NumPy allocates their result
        out = memory.empty(_reduced(x.shape, self.axes, keepdims), x.dtype) if x.dtype.kind == "f" else None
        return x.sum(axis=self.axes, keepdims=keepdims, out=out)

    def backward(self, g):
        return (np.broadcast_to(_expand(g, self.axes, self.keepdims), self.in_shape),)


class Mean(Function):
    __slots__ = ("in_shape", "axes", "keepdims", "count")

    def forward(self, x, axis=None, keepdims=False):
        self.in_shape, self.axes, self.keepdims = x.shape, _norm_axes(axis, x.ndim), keepdims
        self.count = int(np.prod([x.shape[a] for a in self.axes]))
        # NumPy means float16 and integers in a wider type and rounds once at the end: those allocate their own
        wide = x.dtype.kind != "f" or x.dtype.itemsize < 4
        out = None if wide else memory.empty(_reduced(x.shape, self.axes, keepdims), x.dtype)
        return x.mean(axis=self.axes, keepdims=keepdims, out=out)

    def backward(self, g):
        ge = _expand(g, self.axes, self.keepdims)
        return (np.broadcast_to(np.divide(ge, self.count, out=memory.empty_like(ge)), self.in_shape),)


class Max(Function):
    """Max over axes; tied maxima share the gradient equally (the subgradient of amax)."""

    __slots__ = ("mask", "axes", "keepdims")

    def forward(self, x, axis=None, keepdims=False):
        self.axes, self.keepdims = _norm_axes(axis, x.ndim), keepdims
        out = x.max(axis=self.axes, keepdims=True, out=memory.empty(_reduced(x.shape, self.axes, True), x.dtype))
        mask = np.equal(x, out, out=memory.float_result(x))  # 1 at the maxima
        mask /= mask.sum(axis=self.axes, keepdims=True, out=memory.empty(out.shape, mask.dtype))
        self.mask = mask
        return out if keepdims else np.squeeze(out, axis=self.axes)

    def backward(self, g):
        ge = _expand(g, self.axes, self.keepdims)
        return (np.multiply(self.mask, ge, out=memory.result(self.mask.shape, self.mask, ge)),)


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
            return _matmul(a.reshape(-1, a.shape[-1]), b).reshape(*a.shape[:-1], b.shape[-1])
        return _matmul(a, b)

    def backward(self, g):
        a, b = self.a, self.b
        flat = b.ndim == 2 and a.ndim > 2
        ga = gb = None
        if self.needs[0]:
            if flat:
                ga = _matmul(g.reshape(-1, g.shape[-1]), b.T).reshape(a.shape)
            else:
                ga = _matmul(g, np.swapaxes(b, -1, -2))
        if self.needs[1]:
            if flat:  # sum over the batch inside the GEMM
                gb = _matmul(a.reshape(-1, a.shape[-1]).T, g.reshape(-1, g.shape[-1]))
            else:
                gb = _matmul(np.swapaxes(a, -1, -2), g)
        return ga, gb


def _matmul(a, b):
    """a @ b (..., n, k) @ (..., k, m) into a pooled (broadcast batch..., n, m) array."""
    shape = (*np.broadcast_shapes(a.shape[:-2], b.shape[:-2]), a.shape[-2], b.shape[-1])
    return np.matmul(a, b, out=memory.result(shape, a, b))


# ---------------------------------------------------------------------- functional wrappers
def sum(x, axis=None, keepdims: bool = False):  # noqa: A001 - mirrors numpy
    return Sum.apply(as_tensor(x), axis=axis, keepdims=keepdims)


def mean(x, axis=None, keepdims: bool = False):
    return Mean.apply(as_tensor(x), axis=axis, keepdims=keepdims)


def max(x, axis=None, keepdims: bool = False):  # noqa: A001 - mirrors numpy
    return Max.apply(as_tensor(x), axis=axis, keepdims=keepdims)


def matmul(a, b):
    a = as_tensor(a)
    return MatMul.apply(a, as_tensor(b, a))
