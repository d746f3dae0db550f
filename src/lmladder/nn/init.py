"""Weight initialisers. Every one takes an explicit `np.random.Generator`; none touches NumPy's global RNG."""

from __future__ import annotations

import math

import numpy as np

_GAINS = {
    "linear": 1.0,
    "identity": 1.0,
    "sigmoid": 1.0,
    "tanh": 5.0 / 3.0,
    "relu": math.sqrt(2.0),
    "gelu": math.sqrt(2.0),
}


def calculate_gain(nonlinearity: str) -> float:
    """The std multiplier that keeps activations at unit scale through `nonlinearity` (Glorot/He analysis)."""
    try:
        return _GAINS[nonlinearity]
    except KeyError:
        raise ValueError(
            f"calculate_gain: unknown nonlinearity {nonlinearity!r}; choose from {sorted(_GAINS)}"
        ) from None


def normal(rng: np.random.Generator, shape, std: float = 1.0, mean: float = 0.0, dtype=np.float32) -> np.ndarray:
    return (rng.standard_normal(shape) * std + mean).astype(dtype)


def uniform(rng: np.random.Generator, shape, low: float, high: float, dtype=np.float32) -> np.ndarray:
    return rng.uniform(low, high, shape).astype(dtype)


def kaiming_normal(rng, shape, gain: float = 1.0, dtype=np.float32) -> np.ndarray:
    """std = gain / sqrt(fan_in): He et al. (2015) with the gain of the following nonlinearity; fan_in is in_features
    for a weight stored (out, in) as in Linear, n for a 1-D shape."""
    fan_in = shape[1] if len(shape) >= 2 else shape[0]
    return normal(rng, shape, gain / math.sqrt(fan_in), dtype=dtype)


def zeros(shape, dtype=np.float32) -> np.ndarray:
    return np.zeros(shape, dtype=dtype)


def ones(shape, dtype=np.float32) -> np.ndarray:
    return np.ones(shape, dtype=dtype)
