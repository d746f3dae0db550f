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


class Dropout(Module):
    """Inverted dropout drawing its mask from the Generator it was given (so a seed fixes every mask)."""

    def __init__(self, p: float, *, rng: np.random.Generator | None):
        if not 0 <= p < 1:
            raise ValueError(f"Dropout: p={p} outside [0, 1); use 0 to disable")
        if p > 0 and rng is None:
            raise ValueError("Dropout: p > 0 needs rng=np.random.Generator")
        self.p, self.rng = p, rng

    def forward(self, x):
        if not self.training or self.p == 0:
            return x  # the identity: not even a functional call (decoding runs ~10 of these per token)
        return F.dropout(x, self.p, self.rng)


class Tanh(Module):
    def forward(self, x):
        return x.tanh()


class ReLU(Module):
    def forward(self, x):
        return x.relu()


class GELU(Module):
    def __init__(self, approximate: str = "tanh"):
        self.approximate = approximate

    def forward(self, x):
        return F.gelu(x, self.approximate)


ACTIVATIONS = {"tanh": Tanh, "relu": ReLU, "gelu": GELU, "gelu_exact": lambda: GELU("none")}  # gelu: tanh approx.


def activation(name: str) -> Module:
    """An activation module by name: tanh, relu, gelu (tanh approximation) or gelu_exact."""
    try:
        return ACTIVATIONS[name]()
    except KeyError:
        raise ValueError(f"unknown activation {name!r}; choose from {sorted(ACTIVATIONS)}") from None
