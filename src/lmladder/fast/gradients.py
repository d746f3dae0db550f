"""The engine's gradient sums without copies: autograd/gradients.py's `Gradients`, bit for bit, copying an array
only where it may be stored twice and summing into pooled arrays that it owns (memory.py's rule)."""

from __future__ import annotations

import weakref

import numpy as np

from . import memory


class PooledGradients:
    """The summed gradient of each tensor a backward pass has reached so far (keyed by id: any object will do).

    The first gradient to reach a tensor is kept as it is; the second goes into a fresh sum buffer, and later ones
    are added into that in place. A leaf's .grad never aliases another array (optimizers and clipping update it in
    place): a view, a read-only array or an array handed to two places is copied before it becomes one.

    The arrays seen are kept by weak reference, not by id alone: CPython gives a dead array's address, so its id, to
    the next array made, and a dead array is stored nowhere: a fresh gradient with its id is not shared."""

    __slots__ = ("grads", "owned", "handed", "shared")

    def __init__(self, root, grad: np.ndarray):
        self.grads: dict[int, np.ndarray] = {id(root): grad}  # id(tensor) -> its gradient so far
        self.owned: set[int] = set()  # tensors whose entry we allocated, so `+=` is safe
        self.handed: dict[int, weakref.ref] = {id(grad): weakref.ref(grad)}  # arrays stored during this pass
        self.shared = dict(self.handed)  # arrays stored twice (or the caller's): never a leaf's .grad as they are

    def pop(self, t) -> np.ndarray | None:
        """t's summed gradient (None if none arrived), handed over: the walk reaches each tensor once."""
        return self.grads.pop(id(t), None)

    def add(self, t, g: np.ndarray) -> None:
        """Add g, a gradient from one of t's consumers (in t's shape and dtype), to t's."""
        k = id(t)
        prev = self.grads.get(k)
        if prev is None:
            self.grads[k] = g
            if isinstance(g, np.ndarray):  # not a NumPy scalar: read-only, never a leaf's .grad as it is
                (self.shared if _holds(self.handed, g) else self.handed)[id(g)] = weakref.ref(g)
        elif k in self.owned:
            prev += g
        else:
            self.grads[k] = np.add(prev, g, out=memory.empty(prev.shape, prev.dtype))
            self.owned.add(k)

    def accumulate_leaf(self, t, g: np.ndarray) -> None:
        """t.grad += g, or t.grad = g (a copy of it where g may be aliased)."""
        if t.grad is None:
            if g.base is not None or _holds(self.shared, g) or not g.flags.writeable:
                c = memory.empty(g.shape, g.dtype)
                c[...] = g
                g = c
            t.grad = g
        else:
            t.grad += g


def _holds(seen: dict[int, weakref.ref], a: np.ndarray) -> bool:
    """Whether `seen` holds a itself (not a dead array that had its id)."""
    ref = seen.get(id(a))
    return ref is not None and ref() is a
