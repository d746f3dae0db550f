"""The gradients in flight during one backward pass (`Tensor.backward` walks the graph; this module keeps its sums).

A gradient reaches an input in the shape of its consumer's output: `fit` sums it back to the input's shape, the
one place NumPy broadcasting is undone, and casts it to the input's dtype. `Gradients` then adds the gradients
from each of a tensor's consumers up, and pays a leaf's out into its `.grad`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .engine import Tensor


def unbroadcast(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum `grad` down to `shape`, undoing NumPy broadcasting (leading dims added, size-1 dims stretched)."""
    if grad.shape == shape:
        return grad
    lead = grad.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(i + lead for i, n in enumerate(shape) if n == 1 and grad.shape[i + lead] != 1)
    if axes:
        grad = grad.sum(axis=axes, keepdims=True)
    return grad.reshape(shape)


def fit(grad: np.ndarray, like: np.ndarray) -> np.ndarray:
    """grad, the gradient of an input from one of its consumers, in the input's (like's) shape and dtype."""
    if grad.shape != like.shape:
        grad = unbroadcast(grad, like.shape)
    if grad.dtype != like.dtype:
        grad = grad.astype(like.dtype)
    return grad


class Gradients:
    """The summed gradient of each tensor a backward pass has reached so far. A node's backward may return an array
    stored elsewhere too (Add hands g to both inputs), so a sum is a new array, and a leaf's `.grad` starts as a
    copy (optimizers and clipping update it in place). fast/gradients.py keeps the same sums without copies."""

    __slots__ = ("grads",)

    def __init__(self, root: Tensor, grad: np.ndarray):
        self.grads: dict[int, np.ndarray] = {id(root): grad}  # id(tensor) -> its gradient so far

    def pop(self, t: Tensor) -> np.ndarray | None:
        """t's summed gradient (None if none arrived), handed over: the walk reaches each tensor once."""
        return self.grads.pop(id(t), None)

    def add(self, t: Tensor, g: np.ndarray) -> None:
        """Add g, a gradient from one of t's consumers (in t's shape and dtype), to t's."""
        prev = self.grads.get(id(t))
        self.grads[id(t)] = g if prev is None else prev + g

    def accumulate_leaf(self, t: Tensor, g: np.ndarray) -> None:
        """t.grad += g, or t.grad = a copy of g."""
        if t.grad is None:
            t.grad = g.copy()
        else:
            t.grad += g
