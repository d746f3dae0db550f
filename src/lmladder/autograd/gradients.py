"""The gradients in flight during one backward pass: summed back to each input's shape (the one place NumPy
broadcasting is undone), accumulated per tensor, and kept from aliasing one another (`Tensor.backward` walks the
graph; this module does its bookkeeping)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from . import memory

if TYPE_CHECKING:
    from .engine import Tensor


def unbroadcast(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum `grad` down to `shape`, undoing NumPy broadcasting (leading dims added, size-1 dims stretched)."""
    if grad.shape == shape:
        return grad
    lead = grad.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(i + lead for i, n in enumerate(shape) if n == 1 and grad.shape[i + lead] != 1)
    if axes:
        kept = tuple(1 if i in axes else n for i, n in enumerate(grad.shape))
        grad = grad.sum(axis=axes, keepdims=True, out=memory.empty(kept, grad.dtype))
    return grad.reshape(shape)


class Gradients:
    """The gradients in flight during one backward pass, and the aliasing rules that keep them safe.

    A node's backward may return an array that is stored elsewhere too: its upstream gradient (Add hands g to both
    inputs), a view of it, the caller's own array. So the first gradient to reach a tensor is kept as it is, with no
    copy; the second goes into a fresh sum buffer that this class owns, and later ones are added into that in place
    (`+=` only on arrays we own). A leaf's .grad never aliases another array (optimizers and clipping update it in
    place): a view, a read-only array or an array handed to two places is copied before it becomes one.
    """

    __slots__ = ("grads", "owned", "handed", "shared")

    def __init__(self, root: Tensor, grad: np.ndarray):
        self.grads: dict[int, np.ndarray] = {id(root): grad}  # id(tensor) -> its gradient so far
        self.owned: set[int] = set()  # tensors whose entry we allocated, so `+=` is safe
        self.handed: set[int] = {id(grad)}  # arrays stored somewhere during this pass
        self.shared: set[int] = {id(grad)}  # arrays stored twice (or the caller's): never a leaf's .grad as they are

    def pop(self, t: Tensor) -> np.ndarray | None:
        """t's summed gradient (None if none arrived), handed over: the walk reaches each tensor once."""
        return self.grads.pop(id(t), None)

    def add(self, t: Tensor, g: np.ndarray) -> None:
        """Add g, a gradient from one of t's consumers, to t's; g is first summed and cast to t's shape and dtype."""
        if g.shape != t.data.shape:
            g = unbroadcast(g, t.data.shape)
        if g.dtype != t.data.dtype:
            g = _copy(g, t.data.dtype)
        k = id(t)
        prev = self.grads.get(k)
        if prev is None:
            self.grads[k] = g
            (self.shared if id(g) in self.handed else self.handed).add(id(g))
        elif k in self.owned:
            prev += g
        else:
            self.grads[k] = np.add(prev, g, out=memory.empty(prev.shape, prev.dtype))
            self.owned.add(k)

    def accumulate_leaf(self, t: Tensor, g: np.ndarray) -> None:
        """t.grad += g, or t.grad = g (a copy of it where g may be aliased)."""
        if t.grad is None:
            if g.base is not None or id(g) in self.shared or not g.flags.writeable:
                g = _copy(g, g.dtype)
            t.grad = g
        else:
            t.grad += g


def _copy(a: np.ndarray, dtype) -> np.ndarray:
    """a as a new pooled array of dtype (memory.py's rule holds for the gradients the engine makes, too)."""
    c = memory.empty(a.shape, dtype)
    c[...] = a
    return c
