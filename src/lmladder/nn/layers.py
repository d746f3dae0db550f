"""Standard layers. Weights default to float32 (training); pass dtype=np.float64 for gradient checks."""

from __future__ import annotations

import math

import numpy as np

from ..autograd import functional as F
from . import init
from .module import Module, Parameter


class Linear(Module):
    """y = x W^T + b with W (out, in); PyTorch's default init U(-1/sqrt(in), 1/sqrt(in))."""

    def __init__(
        self, in_features: int, out_features: int, bias: bool = True, *, rng: np.random.Generator, dtype=np.float32
    ):
        if in_features <= 0 or out_features <= 0:
            raise ValueError(f"Linear: sizes must be positive, got in={in_features}, out={out_features}")
        bound = 1 / math.sqrt(in_features)
        self.weight = Parameter(init.uniform(rng, (out_features, in_features), -bound, bound, dtype))
        self.bias = Parameter(init.uniform(rng, (out_features,), -bound, bound, dtype)) if bias else None

    def forward(self, x):
        return F.linear(x, self.weight, self.bias)


class Embedding(Module):
    """A (num_embeddings, dim) lookup table, N(0, 1) init."""

    def __init__(self, num_embeddings: int, embedding_dim: int, *, rng: np.random.Generator, dtype=np.float32):
        if num_embeddings <= 0 or embedding_dim <= 0:
            raise ValueError(f"Embedding: sizes must be positive, got {num_embeddings} x {embedding_dim}")
        self.weight = Parameter(init.normal(rng, (num_embeddings, embedding_dim), 1.0, dtype=dtype))

    def forward(self, idx):
        return F.embedding(idx, self.weight)


class LayerNorm(Module):
    """Layer normalisation over the last dim (Ba et al., 2016); bias optional (nanoGPT's bias=False)."""

    def __init__(self, dim: int, bias: bool = True, eps: float = 1e-5, dtype=np.float32):
        self.eps = eps
        self.weight = Parameter(init.ones((dim,), dtype))
        self.bias = Parameter(init.zeros((dim,), dtype)) if bias else None

    def forward(self, x):
        return F.layer_norm(x, self.weight, self.bias, self.eps)


class RMSNorm(Module):
    """Root-mean-square normalisation over the last dim (Zhang & Sennrich, 2019)."""

    def __init__(self, dim: int, eps: float = 1e-5, dtype=np.float32):
        self.eps = eps
        self.weight = Parameter(init.ones((dim,), dtype))

    def forward(self, x):
        return F.rms_norm(x, self.weight, self.eps)


class BatchNorm1d(Module):
    """Batch normalisation (Ioffe & Szegedy, 2015) over every axis but the last, so (N, C) and (B, T, C) both work.

    Training normalises by the statistics of the batch and updates the running estimates (PyTorch's momentum 0.1,
    unbiased running variance); evaluation uses the running estimates. `mask` (boolean over x's leading axes, or
    broadcastable to them) picks the rows the statistics come from: a language model passes the positions that carry
    a target, so padding never moves the statistics. A training forward whose mask picks no row (no targets: a
    sample or a score) has nothing to learn from and uses the running estimates, as evaluation does.
    """

    def __init__(self, dim: int, eps: float = 1e-5, momentum: float = 0.1, dtype=np.float32):
        self.eps, self.momentum = eps, momentum
        self.weight = Parameter(init.ones((dim,), dtype))
        self.bias = Parameter(init.zeros((dim,), dtype))
        self.register_buffer("running_mean", init.zeros((dim,), dtype))
        self.register_buffer("running_var", init.ones((dim,), dtype))

    def forward(self, x, mask=None):
        batch = self.training and (mask is None or np.any(mask))
        stats = dict(training=batch, momentum=self.momentum, eps=self.eps, mask=mask)
        return F.batch_norm(x, self.weight, self.bias, (self.running_mean, self.running_var), **stats)


class FlattenConsecutive(Module):
    """(..., L, C) -> (..., L/n, n*C): concatenate each n neighbouring vectors (WaveNet's dilated merge, as in
    Zero-to-Hero part 5)."""

    def __init__(self, n: int):
        self.n = n

    def forward(self, x):
        *lead, L, C = x.shape
        if L % self.n:
            raise ValueError(f"FlattenConsecutive: length {L} of input {x.shape} is not a multiple of n={self.n}")
        return x.reshape(*lead, L // self.n, self.n * C)  # (..., L, C) -> (..., L/n, n*C)


class Dropout(Module):
    """Inverted dropout drawing its mask from the Generator it was given (so a seed fixes every mask)."""

    def __init__(self, p: float, *, rng: np.random.Generator | None):
        if not 0 <= p < 1:
            raise ValueError(f"{type(self).__name__}: p={p} outside [0, 1); use 0 to disable")
        if p > 0 and rng is None:
            raise ValueError(f"{type(self).__name__}: p > 0 needs rng=np.random.Generator")
        self.p, self.rng = p, rng

    def forward(self, x):
        if not self.training or self.p == 0:
            return x  # the identity: not even a functional call
        return F.dropout(x, self.p, self.rng)


class DropPath(Dropout):
    """Stochastic depth (Huang et al., 2016), on a residual branch: in training each sample's branch is dropped
    whole with probability p and the kept ones scaled by 1 / (1 - p); the identity in eval. A product with a
    constant mask, so its gradient is Mul's."""

    def forward(self, x):  # (B, ...) -> (B, ...)
        if not self.training or self.p == 0:
            return x
        keep = self.rng.random((x.shape[0],) + (1,) * (x.ndim - 1)) >= self.p  # (B, 1, ..., 1)
        return x * (keep / (1 - self.p)).astype(x.dtype)


class Tanh(Module):
    def forward(self, x):
        return x.tanh()


class ReLU(Module):
    def forward(self, x):
        return x.relu()


class ReLU2(Module):
    def forward(self, x):
        return F.relu2(x)


class GELU(Module):
    def __init__(self, approximate: str = "tanh"):
        self.approximate = approximate

    def forward(self, x):
        return F.gelu(x, self.approximate)


# gelu: tanh approximation; relu2: max(x, 0)^2
ACTIVATIONS = {"tanh": Tanh, "relu": ReLU, "relu2": ReLU2, "gelu": GELU, "gelu_exact": lambda: GELU("none")}


def activation(name: str) -> Module:
    """An activation module by name: tanh, relu, relu2, gelu (tanh approximation) or gelu_exact."""
    try:
        return ACTIVATIONS[name]()
    except KeyError:
        raise ValueError(f"unknown activation {name!r}; choose from {sorted(ACTIVATIONS)}") from None
