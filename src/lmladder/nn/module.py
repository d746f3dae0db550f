"""`Module` and `Parameter`: named, stateful building blocks whose parameters the optimizers update.

A module's state is its parameters (trained) and its buffers (arrays it updates itself, such as BatchNorm's running
statistics): `state_dict()` holds both, so checkpoints save and restore both; optimizers only see `parameters()`."""

from __future__ import annotations

import contextlib
import operator
from collections.abc import Iterable, Iterator

import numpy as np

from ..autograd import Tensor
from ..errors import LmladderError


class Parameter(Tensor):
    """A leaf tensor that a Module owns and an optimizer updates (always requires grad).

    `row_blocks`: for a matrix that fuses several (the GPT's c_attn: q, k and v, one above the other), the sizes of
    its blocks of rows, top to bottom, declared by the model; None for a matrix that is one. An optimizer that treats
    matrices as wholes (Muon) may treat each block as a matrix of its own."""

    __slots__ = ("row_blocks",)

    def __init__(self, data, dtype=None):
        super().__init__(data, requires_grad=True, dtype=dtype)
        self.row_blocks: tuple[int, ...] | None = None


class StateDictError(LmladderError, KeyError):
    """load_state_dict found missing, unexpected or mis-shaped entries (all are named in the message)."""

    def __str__(self) -> str:
        return str(self.args[0])


class Module:
    """Base class: parameters and sub-modules are found by walking attributes in assignment order."""

    training: bool = True
    _buffer_names: tuple[str, ...] = ()  # attributes that are buffers (register_buffer)
    # module(x) is module.forward(x). A property that returns the bound forward, not a def calling it: the call then
    # costs no Python frame of its own (a decoded token makes dozens of module calls); forward is still looked up on
    # every call, so a subclass or a patched class attribute is honoured
    __call__ = property(operator.attrgetter("forward"))

    def forward(self, *args, **kwargs):  # pragma: no cover - abstract
        raise NotImplementedError

    # ------------------------------------------------------------------ traversal
    def _children(self) -> Iterator[tuple[str, Parameter | Module]]:
        for name, value in vars(self).items():
            if isinstance(value, (Parameter, Module)):
                yield name, value
            elif isinstance(value, (list, tuple)) and value and all(isinstance(v, Module) for v in value):
                for i, v in enumerate(value):
                    yield f"{name}.{i}", v

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Parameter]]:
        """(dotted name, parameter) pairs in a stable order; a shared (tied) parameter appears once, first name."""
        seen: set[int] = set()
        stack: list[tuple[str, Parameter | Module]] = [(prefix.rstrip("."), self)]
        out: list[tuple[str, Parameter]] = []
        while stack:
            name, obj = stack.pop()
            if isinstance(obj, Parameter):
                if id(obj) not in seen:
                    seen.add(id(obj))
                    out.append((name, obj))
                continue
            children = [(f"{name}.{n}" if name else n, c) for n, c in obj._children()]
            stack.extend(reversed(children))  # depth-first, in attribute order
        return iter(out)

    def parameters(self) -> list[Parameter]:
        return [p for _, p in self.named_parameters()]

    def named_modules(self) -> Iterator[tuple[str, Module]]:
        """(dotted name, module) pairs, depth-first in attribute order; the root is named ""."""
        stack: list[tuple[str, Module]] = [("", self)]
        while stack:
            name, m = stack.pop()
            yield name, m
            children = [(f"{name}.{n}" if name else n, c) for n, c in m._children() if isinstance(c, Module)]
            stack.extend(reversed(children))

    def modules(self) -> Iterator[Module]:
        return (m for _, m in self.named_modules())

    def register_buffer(self, name: str, array: np.ndarray) -> None:
        """Keep `array` as attribute `name`: state the module updates in place itself (not by an optimizer), saved
        and restored with the parameters."""
        setattr(self, name, array)
        self._buffer_names = (*self._buffer_names, name)

    def named_buffers(self) -> Iterator[tuple[str, np.ndarray]]:
        for prefix, m in self.named_modules():
            for b in m._buffer_names:
                yield (f"{prefix}.{b}" if prefix else b), getattr(m, b)

    def num_parameters(self) -> int:
        return sum(p.size for p in self.parameters())

    # ------------------------------------------------------------------ modes and grads
    def train(self, mode: bool = True) -> Module:
        for m in self.modules():
            m.training = mode
        return self

    def eval(self) -> Module:
        return self.train(False)

    @contextlib.contextmanager
    def evaluating(self) -> Iterator[Module]:
        """Inside: eval mode (no dropout, BatchNorm on its running statistics); the mode before comes back after."""
        was = self.training
        self.eval()
        try:
            yield self
        finally:
            self.train(was)

    def zero_grad(self) -> None:
        for p in self.parameters():
            p.grad = None

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, np.ndarray]:
        """name -> array, parameters then buffers (the live arrays; copy them if you mutate)."""
        return {**{name: p.data for name, p in self.named_parameters()}, **dict(self.named_buffers())}

    def load_state_dict(self, state: dict[str, np.ndarray], strict: bool = True) -> None:
        """Copy arrays into the parameters and buffers in place. Strict: every key must match by name and shape."""
        live = self.state_dict()
        missing = sorted(set(live) - set(state))
        unexpected = sorted(set(state) - set(live))
        mismatched = [
            f"{k}: checkpoint {tuple(np.shape(state[k]))} vs model {live[k].shape}"
            for k in live
            if k in state and tuple(np.shape(state[k])) != live[k].shape
        ]
        if mismatched or (strict and (missing or unexpected)):
            named = (("missing keys", missing), ("unexpected keys", unexpected), ("shape mismatch", mismatched))
            parts = [f"{what} {keys}" for what, keys in named if keys]
            raise StateDictError(
                f"load_state_dict: {'; '.join(parts)}; build the model with the checkpoint's own config "
                "(model kwargs in its metadata)"
            )
        for k, arr in live.items():
            if k in state:
                np.copyto(arr, state[k], casting="same_kind")


class ModuleList(Module):
    """A list of sub-modules, named by position (`blocks.0.attn...`)."""

    def __init__(self, modules: Iterable[Module] = ()):
        self.items = list(modules)

    def _children(self):
        for i, m in enumerate(self.items):
            yield str(i), m

    def __getitem__(self, i: int) -> Module:
        return self.items[i]

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[Module]:
        return iter(self.items)


class Sequential(ModuleList):
    """Apply the sub-modules in order."""

    def __init__(self, *modules: Module):
        super().__init__(modules)

    def forward(self, x):
        for m in self.items:
            x = m(x)
        return x
