"""The reverse-mode core: `Tensor`, the `Function` base class, and the backward walk.

A `Tensor` wraps a NumPy array. Applying a `Function` to tensors runs its `forward` on the arrays and, when a
gradient is needed, returns a tensor that remembers the function node. `Tensor.backward()` walks those nodes in
reverse topological order (iteratively, so deep graphs never hit the recursion limit), asks each node for the
gradients of its inputs, sums each back to its input's shape (`gradients.fit`, the one place broadcasting is
undone) and adds them up per tensor (`gradients.Gradients`, or its twin in `fast`), paying the leaves' out
into `.grad`.
"""

from __future__ import annotations

import numpy as np

from .. import fast
from ..errors import LmladderError
from .gradients import Gradients, fit


class AutogradError(LmladderError, ValueError):
    """A shape, dtype or usage error raised by an op; the message names the op, the shapes and the fix."""


_grad_enabled = True


def is_grad_enabled() -> bool:
    return _grad_enabled


class no_grad:  # noqa: N801 (used as a function: `with no_grad():`)
    """Build no graph inside the `with` (evaluation, sampling, optimizer updates)."""

    def __enter__(self):
        global _grad_enabled
        self.prev, _grad_enabled = _grad_enabled, False

    def __exit__(self, *exc):
        global _grad_enabled
        _grad_enabled = self.prev


class Function:
    """One primitive op: `forward` on arrays, `backward` from the output gradient to one gradient per input.

    Subclasses register themselves in `Function.registry` (name -> class) so tests can enumerate every op.
    Contract: `forward(*arrays, **kwargs) -> array` saves on `self` only what backward needs;
    `backward(grad) -> tuple` returns one array (or None) per tensor input, each broadcastable to that input;
    `self.needs[i]` (set when the node is recorded, after forward) says whether input i wants a gradient, so
    backward can skip the work for the others.
    `backward` must not write into `grad` (it may be shared with other nodes).
    """

    __slots__ = ("parents", "needs")
    registry: dict[str, type[Function]] = {}
    differentiable = True  # False for ops whose inputs get no gradient (comparisons); no gradcheck needed

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.__name__ in Function.registry:
            raise TypeError(f"Function name {cls.__name__!r} registered twice; op class names must be unique")
        Function.registry[cls.__name__] = cls

    def forward(self, *arrays, **kwargs) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def backward(self, grad: np.ndarray) -> tuple:  # pragma: no cover - abstract
        raise NotImplementedError

    @classmethod
    def apply(cls, *inputs: Tensor, **kwargs) -> Tensor:
        """Run the op on tensors (anything else by keyword), and record it for backward when an input needs a
        gradient. Under no_grad (evaluation, sampling) an op costs its forward and nothing more."""
        fn = cls()
        # forward(*[t.data for t in inputs], **kwargs), with the arities of nearly every op spelled out: a list
        # for the star-call costs more than a decoded token's arithmetic in a small op
        n = len(inputs)
        if n == 1:
            data = fn.forward(inputs[0].data, **kwargs)
        elif n == 2:
            data = fn.forward(inputs[0].data, inputs[1].data, **kwargs)
        elif n == 3:
            data = fn.forward(inputs[0].data, inputs[1].data, inputs[2].data, **kwargs)
        else:
            data = fn.forward(*[t.data for t in inputs], **kwargs)
        out = Tensor.__new__(Tensor)  # an op's output needs none of __init__'s checks on user data
        out.data = data if type(data) is np.ndarray else np.asarray(data)
        out.grad = out._node = out.name = None
        out.requires_grad = False
        if _grad_enabled:
            needs = tuple(t.requires_grad for t in inputs)
            if True in needs:
                fn.needs, fn.parents = needs, inputs
                out.requires_grad, out._node = True, fn
        return out


class _Released:
    """Stands in for a node whose graph an earlier backward() freed: reaching it again is an error, not a leaf."""

    parents: tuple = ()
    needs: tuple = ()


_RELEASED = _Released()


def _released_error(t: Tensor) -> AutogradError:
    return AutogradError(
        f"backward: reached a tensor of shape {t.shape} whose graph an earlier backward() already released; "
        "add the losses and call backward() once on the sum, or run the forward pass again"
    )


class Tensor:
    """A NumPy array that can record the ops applied to it and carry a gradient."""

    __slots__ = ("data", "grad", "requires_grad", "_node", "name", "__weakref__")
    __array_priority__ = 1000  # so `ndarray * Tensor` defers to Tensor.__rmul__

    def __init__(self, data, requires_grad: bool = False, dtype=None, name: str | None = None):
        arr = np.asarray(data.data if isinstance(data, Tensor) else data, dtype=dtype)
        if requires_grad and not np.issubdtype(arr.dtype, np.floating):
            raise AutogradError(
                f"Tensor: requires_grad=True needs a floating dtype, got {arr.dtype} with shape {arr.shape}; "
                "cast with dtype=np.float32 (training) or np.float64 (gradient checks)"
            )
        self.data: np.ndarray = arr
        self.grad: np.ndarray | None = None
        self.requires_grad = requires_grad
        self._node: Function | None = None
        self.name = name

    # ------------------------------------------------------------------ array-like surface
    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def size(self) -> int:
        return self.data.size

    def __len__(self) -> int:
        return len(self.data)

    def item(self) -> float:
        return self.data.item()

    def detach(self) -> Tensor:
        """The same data, cut from the graph (shares memory, no gradient)."""
        return Tensor(self.data)

    def zero_grad(self) -> None:
        self.grad = None

    def __repr__(self) -> str:
        extra = ", requires_grad=True" if self.requires_grad else ""
        return f"Tensor(shape={self.shape}, dtype={self.dtype}{extra})"

    # ------------------------------------------------------------------ backward
    def backward(self, grad: np.ndarray | float | None = None) -> None:
        """Accumulate d(self)/d(leaf) * grad into every leaf's `.grad`, then release the graph.

        Without `grad`, self must hold a single element (a loss); otherwise pass the upstream gradient.
        """
        if not self.requires_grad:
            raise AutogradError(
                f"backward: tensor of shape {self.shape} does not require grad; create a leaf with "
                "requires_grad=True (or nn.Parameter) and make sure no_grad() is not active"
            )
        if self._node is _RELEASED:
            raise _released_error(self)
        if grad is None:
            if self.data.size != 1:
                raise AutogradError(
                    f"backward: implicit gradient needs a single-element output, got shape {self.shape}; "
                    "reduce to a scalar loss first or pass grad= with the same shape"
                )
            grad = np.ones(self.shape, self.data.dtype)
        else:
            grad = np.asarray(grad, dtype=self.data.dtype)
            if grad.shape != self.shape:
                grad = np.broadcast_to(grad, self.shape).copy()

        k = fast.kernel(grad)
        grads = Gradients(self, grad) if k is None else k.gradients(self, grad)  # fast's sums copy less
        for t in self._topo_order():
            g = grads.pop(t)
            node = t._node
            if node is _RELEASED:
                if g is not None:  # its inputs' gradients were already paid out: silently stopping would be wrong
                    raise _released_error(t)
                continue
            if node is not None:
                t._node = _RELEASED  # release the graph as we go
            if g is None:
                continue
            if node is None:  # a leaf
                grads.accumulate_leaf(t, g)
                continue
            for p, pg, need in zip(node.parents, node.backward(g), node.needs, strict=True):
                if need and pg is not None:
                    grads.add(p, fit(pg, p.data))
            node.parents = ()

    def _topo_order(self) -> list[Tensor]:
        """Tensors reachable from self through nodes that need grad, outputs before inputs."""
        order: list[Tensor] = []
        visited: set[int] = set()
        stack: list[tuple[Tensor, bool]] = [(self, False)]
        while stack:
            t, expanded = stack.pop()
            if expanded:  # all of t's inputs are already in `order`
                order.append(t)
                continue
            if id(t) in visited:
                continue
            visited.add(id(t))
            stack.append((t, True))
            node = t._node
            if node is not None:
                for p, need in zip(node.parents, node.needs, strict=True):
                    if need and id(p) not in visited:
                        stack.append((p, False))
        order.reverse()
        return order
