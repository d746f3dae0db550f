"""Primitives of the modern transformer (modded-nanogpt, nanochat): rotary position embeddings, key/value heads
shared by groups of query heads, and the squared ReLU."""

from __future__ import annotations

import functools

import numpy as np

from ..fast import modern as KM
from .engine import AutogradError, Function


@functools.lru_cache(maxsize=64)
def rotary_tables(n: int, head_dim: int, base: float, dtype: str) -> tuple[np.ndarray, np.ndarray]:
    """cos and sin of position t times frequency base^(-2i/d), each (n, head_dim // 2), read-only.

    Angles are computed in float64 and rounded once, so float32 and float64 models rotate by the same angles."""
    inv_freq = base ** (-np.arange(0, head_dim, 2, dtype=np.float64) / head_dim)  # (d/2,)
    angles = np.outer(np.arange(n, dtype=np.float64), inv_freq)  # (n, d/2)
    cos, sin = np.cos(angles).astype(dtype), np.sin(angles).astype(dtype)
    cos.flags.writeable = sin.flags.writeable = False
    return cos, sin


class Rotary(Function):
    """Rotary position embedding (Su et al., 2021, RoFormer) of x (B, T, H, d) at positions start .. start + T - 1.

    The two halves of each head (x1, x2) turn by angle t * base^(-2i/d) (GPT-NeoX's "rotate half" layout):
    y1 = x1 cos - x2 sin, y2 = x2 cos + x1 sin. A rotation's transpose is the rotation back, so backward turns
    the gradient by the opposite angle."""

    __slots__ = ("cos", "sin")

    def forward(self, x, start: int = 0, base: float = 10000.0):
        if x.ndim != 4 or x.shape[-1] % 2:
            raise AutogradError(
                f"Rotary: input {x.shape} must be (B, T, H, head_dim) with an even head_dim; pick n_embd / n_head even"
            )
        T, d = x.shape[1], x.shape[-1]
        cos, sin = rotary_tables(start + T, d, base, x.dtype.str)
        self.cos, self.sin = cos[start:, None, :], sin[start:, None, :]  # (T, 1, d/2): broadcast over heads
        return self._turn(x, self.sin)

    def backward(self, g):
        return (self._turn(g, -self.sin),)

    def _turn(self, x, sin):
        return KM.rotate_half(x, self.cos, sin)  # y1 = x1 cos - x2 sin, y2 = x2 cos + x1 sin


class RepeatHeads(Function):
    """x (B, T, H_kv, d) -> (B, T, H_kv * groups, d), each key/value head repeated for its group of query heads
    (grouped-query attention, Ainslie et al., 2023); backward sums each group's gradients."""

    __slots__ = ("groups",)

    def forward(self, x, groups: int):
        self.groups = groups
        return np.repeat(x, groups, axis=2)

    def backward(self, g):
        B, T, H, d = g.shape
        return (g.reshape(B, T, H // self.groups, self.groups, d).sum(axis=3),)


class ReluSquared(Function):
    """max(x, 0)^2 (So et al., 2021, Primer), the MLP activation of modded-nanogpt and nanochat."""

    __slots__ = ("r",)

    def forward(self, x):
        y, self.r = KM.relu2_forward(x)  # r = max(x, 0), y = r^2
        return y

    def backward(self, g):
        return (KM.relu2_backward(g, self.r),)  # 2 g r
