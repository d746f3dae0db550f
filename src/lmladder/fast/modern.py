"""Kernels of the modern transformer's primitives (autograd/ops_nn.py's RMSNorm, ops_transformer.py's Rotary and
ReluSquared): the NumPy reference of each, and the hand-over to its compiled twin in modern_jit.py for float32.

NumPy needs 4-6 passes and as many temporaries for each of these; on the shakespeare_30min model they took a
quarter of the training step (benchmarks/profile_ops.py). The twins read and write every element once.
"""

from __future__ import annotations

import numpy as np

from .kernels import compiled


def _twin(x: np.ndarray):
    """modern_jit when x is float32 and the compiled kernels are on and importable, else None."""
    if compiled(x) is None:
        return None
    from . import modern_jit  # numba is importable: compiled() loaded kernels_jit

    return modern_jit


def rms_norm_forward(x: np.ndarray, w: np.ndarray, eps: float):
    """(y, xhat, rstd) over x's last axis: rstd = 1 / sqrt(mean(x^2) + eps), xhat = x rstd, y = xhat w."""
    if jit := _twin(x):
        return jit.rms_norm_forward(x, w, eps)
    rstd = 1 / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps)
    xhat = x * rstd
    return xhat * w, xhat, rstd


def rms_norm_backward(g: np.ndarray, xhat: np.ndarray, rstd: np.ndarray, w: np.ndarray, need_x: bool, need_w: bool):
    """(gx, gw): gx = rstd (g w - xhat mean(g w xhat)), gw = sum of g xhat over all rows (None where not needed)."""
    if jit := _twin(g):
        return jit.rms_norm_backward(g, xhat, rstd, w, need_x, need_w)
    C = g.shape[-1]
    gxhat = g * w
    gx = rstd * (gxhat - xhat * (gxhat * xhat).mean(axis=-1, keepdims=True)) if need_x else None
    gw = (g.reshape(-1, C) * xhat.reshape(-1, C)).sum(axis=0) if need_w else None
    return gx, gw


def rotate_half(x: np.ndarray, cos: np.ndarray, sin: np.ndarray) -> np.ndarray:
    """x (B, T, H, d) turned by the angles of cos/sin (T, 1, d/2): y1 = x1 cos - x2 sin, y2 = x2 cos + x1 sin."""
    if jit := _twin(x):
        return jit.rotate_half(x, cos, sin)
    h = x.shape[-1] // 2
    x1, x2 = x[..., :h], x[..., h:]  # (B, T, H, d/2) each
    y = np.empty_like(x)
    np.multiply(x1, cos, out=y[..., :h])
    y[..., :h] -= x2 * sin
    np.multiply(x2, cos, out=y[..., h:])
    y[..., h:] += x1 * sin
    return y


def relu2_forward(x: np.ndarray):
    """(y, r): r = max(x, 0), y = r^2."""
    if jit := _twin(x):
        return jit.relu2_forward(x)
    r = np.maximum(x, 0)
    return r * r, r


def relu2_backward(g: np.ndarray, r: np.ndarray) -> np.ndarray:
    """2 g r."""
    if jit := _twin(g):
        return jit.relu2_backward(g, r)
    return 2 * g * r
