"""Shape, indexing, joining and selection primitives."""

from __future__ import annotations

import numpy as np

from .engine import AutogradError, Function, Tensor
from .ops_elementwise import as_tensor


class Reshape(Function):
    __slots__ = ("in_shape",)

    def forward(self, x, shape):
        self.in_shape = x.shape
        try:
            return x.reshape(shape)
        except ValueError:
            raise AutogradError(
                f"Reshape: cannot reshape {x.shape} ({x.size} elements) to {tuple(shape)}; "
                "the product of the new shape must equal the element count (use -1 for one inferred dim)"
            ) from None

    def backward(self, g):
        return (g.reshape(self.in_shape),)


class Permute(Function):
    __slots__ = ("inverse",)

    def forward(self, x, axes):
        axes = tuple(a % x.ndim for a in axes)
        if sorted(axes) != list(range(x.ndim)):
            raise AutogradError(
                f"Permute: axes {axes} are not a permutation of the {x.ndim} dims of shape {x.shape}; "
                f"pass each of 0..{x.ndim - 1} once"
            )
        self.inverse = tuple(np.argsort(axes))
        return x.transpose(axes)

    def backward(self, g):
        return (g.transpose(self.inverse),)


def _is_basic_index(index) -> bool:
    """Slices/ints/None/Ellipsis only: each input element is picked at most once, so a plain assignment scatters."""
    items = index if isinstance(index, tuple) else (index,)
    return all(isinstance(i, (int, np.integer, slice)) or i is None or i is Ellipsis for i in items)


class GetItem(Function):
    """x[index] for slices, ints and integer/boolean arrays; repeated integer indices accumulate in backward."""

    __slots__ = ("in_shape", "dtype", "index", "basic")

    def forward(self, x, index):
        self.in_shape, self.dtype, self.index = x.shape, x.dtype, index
        self.basic = _is_basic_index(index)
        try:
            return x[index]
        except IndexError as e:
            raise AutogradError(f"GetItem: index does not fit shape {x.shape}: {e}; check the index bounds") from None

    def backward(self, g):
        gx = np.zeros(self.in_shape, dtype=self.dtype)
        if self.basic:
            gx[self.index] = g
        else:
            np.add.at(gx, self.index, g)  # scatter-add: an embedding row used twice gets both gradients
        return (gx,)


class Concat(Function):
    __slots__ = ("axis", "bounds")

    def forward(self, *xs, axis=0):
        try:
            out = np.concatenate(xs, axis=axis)
        except ValueError:
            shapes = [x.shape for x in xs]
            raise AutogradError(
                f"Concat: shapes {shapes} differ outside axis {axis}; make all other dims equal"
            ) from None
        self.axis = axis % out.ndim
        self.bounds = np.cumsum([x.shape[self.axis] for x in xs])[:-1]
        return out

    def backward(self, g):
        return tuple(np.split(g, self.bounds, axis=self.axis))


class Stack(Function):
    __slots__ = ("axis",)

    def forward(self, *xs, axis=0):
        try:
            out = np.stack(xs, axis=axis)
        except ValueError:
            raise AutogradError(
                f"Stack: all inputs need one shape, got {[x.shape for x in xs]}; reshape or pad them first"
            ) from None
        self.axis = axis % out.ndim
        return out

    def backward(self, g):
        return tuple(np.moveaxis(g, self.axis, 0))


class Where(Function):
    """cond ? a : b with broadcasting; cond is a constant boolean array."""

    __slots__ = ("cond",)

    def forward(self, a, b, cond):
        self.cond = np.asarray(cond, dtype=bool)
        return np.where(self.cond, a, b)

    def backward(self, g):
        ga = np.where(self.cond, g, 0) if self.needs[0] else None
        gb = np.where(self.cond, 0, g) if self.needs[1] else None
        return ga, gb


class MaskedFill(Function):
    """x with `value` wherever the (broadcastable) boolean mask is True; those positions get no gradient."""

    __slots__ = ("mask",)

    def forward(self, x, mask, value):
        self.mask = np.asarray(mask, dtype=bool)
        try:
            return np.where(self.mask, np.asarray(value, dtype=x.dtype), x)
        except ValueError:
            raise AutogradError(
                f"MaskedFill: mask shape {self.mask.shape} does not broadcast to input shape {x.shape}; "
                "give the mask the input's shape or size-1 dims"
            ) from None

    def backward(self, g):
        return (np.where(self.mask, 0, g),)


# ---------------------------------------------------------------------- functional wrappers
def reshape(x, *shape):
    shape = tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
    return Reshape.apply(as_tensor(x), shape=shape)


def permute(x, *axes):
    axes = tuple(axes[0]) if len(axes) == 1 and isinstance(axes[0], (tuple, list)) else axes
    return Permute.apply(as_tensor(x), axes=axes)


def transpose(x, dim0: int = -2, dim1: int = -1):
    x = as_tensor(x)
    axes = list(range(x.ndim))
    axes[dim0], axes[dim1] = axes[dim1], axes[dim0]
    return Permute.apply(x, axes=tuple(axes))


def getitem(x, index):
    if isinstance(index, Tensor):
        index = index.data
    elif isinstance(index, tuple):
        index = tuple(i.data if isinstance(i, Tensor) else i for i in index)
    return GetItem.apply(as_tensor(x), index=index)


def concat(xs, axis: int = 0):
    return Concat.apply(*map(as_tensor, xs), axis=axis)


def stack(xs, axis: int = 0):
    return Stack.apply(*map(as_tensor, xs), axis=axis)


def where(cond, a, b):
    cond = cond.data if isinstance(cond, Tensor) else cond
    a = as_tensor(a, b if isinstance(b, Tensor) else None)
    return Where.apply(a, as_tensor(b, a), cond=cond)


def masked_fill(x, mask, value: float):
    mask = mask.data if isinstance(mask, Tensor) else mask
    return MaskedFill.apply(as_tensor(x), mask=mask, value=value)
