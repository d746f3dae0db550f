"""Fused primitives for neural nets: written by hand for numerical stability and speed.

Each one has a composite twin in `functional.py` built from plain primitives, and a test shows they agree.
"""

from __future__ import annotations

import math

import numpy as np

from .. import fast
from .engine import AutogradError, Function, is_grad_enabled
from .ops_elementwise import erf_array as erf

_K, _C = math.sqrt(2 / math.pi), 0.044715  # GELU's tanh approximation: tanh(K (x + C x^3))


class Softmax(Function):
    __slots__ = ("out", "axis")

    def forward(self, x, axis=-1):
        e = np.exp(x - x.max(axis=axis, keepdims=True))  # max-subtracted: exp never overflows
        e /= e.sum(axis=axis, keepdims=True)
        self.out, self.axis = e, axis
        return e

    def backward(self, g):
        y = self.out
        return (y * (g - (g * y).sum(axis=self.axis, keepdims=True)),)


class LogSoftmax(Function):
    __slots__ = ("out", "axis")

    def forward(self, x, axis=-1):
        shifted = x - x.max(axis=axis, keepdims=True)
        shifted -= np.log(np.exp(shifted).sum(axis=axis, keepdims=True))
        self.out, self.axis = shifted, axis
        return shifted

    def backward(self, g):
        return (g - np.exp(self.out) * g.sum(axis=self.axis, keepdims=True),)


class CrossEntropy(Function):
    """Mean/sum/none NLL of integer targets under softmax(logits) over the last axis.

    Log-sum-exp forward; the combined softmax-NLL backward (probs - onehot) never forms a Jacobian.
    Targets equal to `ignore_index` contribute neither loss nor gradient; 'mean' divides by the rest.
    """

    __slots__ = ("probs", "targets", "valid", "scale", "in_shape")

    def forward(self, logits, targets, ignore_index=-100, reduction="mean"):
        if reduction not in ("mean", "sum", "none"):
            raise AutogradError(f"CrossEntropy: reduction={reduction!r}; use 'mean', 'sum' or 'none'")
        targets = np.asarray(targets)
        if logits.shape[:-1] != targets.shape or targets.dtype.kind not in "iu":
            raise AutogradError(
                f"CrossEntropy: logits {logits.shape} need integer targets of shape {logits.shape[:-1]}, "
                f"got {targets.dtype} {targets.shape}; pass class ids, one per row of logits"
            )
        V = logits.shape[-1]
        L = logits.reshape(-1, V)  # (N, V)
        t = targets.reshape(-1)  # (N,)
        valid = None  # None: every target counts (the common case, no mask arithmetic at all)
        if t.size and (0 <= ignore_index < V or t.min() < 0 or t.max() >= V):
            valid = t != ignore_index
            bad = valid & ((t < 0) | (t >= V))
            if bad.any():
                raise AutogradError(
                    f"CrossEntropy: target {int(t[bad][0])} outside [0, {V}) for logits {logits.shape}; "
                    "check the vocabulary size or set ignore_index for padding"
                )
            t = np.where(valid, t, 0)
        rows = np.arange(t.size)
        e = L - L.max(axis=1, keepdims=True)  # exp never overflows
        nll = -e[rows, t]
        np.exp(e, out=e)
        s = e.sum(axis=1)
        nll += np.log(s)  # (N,) log-sum-exp minus the target's logit
        if valid is not None:
            nll *= valid
        count = t.size if valid is None else int(np.count_nonzero(valid))
        self.scale = 1 / max(count, 1) if reduction == "mean" else 1.0
        if reduction == "none":
            out = nll.reshape(targets.shape)
        else:
            out = np.asarray(nll.sum() * self.scale, dtype=logits.dtype)
        if is_grad_enabled():  # the buffer becomes the probabilities backward needs
            e /= s[:, None]
            self.probs, self.targets, self.valid, self.in_shape = e, t, valid, logits.shape
        return out

    def backward(self, g):
        gl = self.probs  # safe to overwrite: the graph is freed after this backward
        gl[np.arange(gl.shape[0]), self.targets] -= 1
        if g.ndim:  # reduction 'none': one upstream gradient per row
            gl *= g.reshape(-1, 1)
        else:
            gl *= g * self.scale
        if self.valid is not None:
            gl *= self.valid[:, None]
        return gl.reshape(self.in_shape), None


class LayerNorm(Function):
    """(x - mean) / sqrt(var + eps) * weight + bias over the last axis; weight and bias are optional inputs."""

    __slots__ = ("xhat", "rstd", "w", "has_b")

    def forward(self, x, *wb, eps=1e-5, has_weight=True):
        self.w = wb[0] if has_weight else None
        b = wb[-1] if len(wb) == 1 + has_weight else None
        self.has_b = b is not None
        if (k := fast.kernel(x)) is not None:  # under no_grad it keeps no xhat, rstd
            y, self.xhat, self.rstd = k.layer_norm(x, self.w, b, eps, is_grad_enabled())
            return y
        xc = x - x.mean(axis=-1, keepdims=True)
        self.rstd = 1 / np.sqrt((xc * xc).mean(axis=-1, keepdims=True) + eps)  # (..., 1)
        self.xhat = xc * self.rstd
        y = self.xhat if self.w is None else self.xhat * self.w
        return y if b is None else y + b

    def backward(self, g):
        need_w = self.w is not None and self.needs[1]
        need_b = self.has_b and self.needs[-1]
        if (k := fast.kernel(g)) is not None:
            gx, gw, gb = k.layer_norm_backward(g, self.xhat, self.rstd, self.w, self.needs[0], need_w, need_b)
        else:
            gxhat = g if self.w is None else g * self.w
            gx = None
            if self.needs[0]:  # rstd (gxhat - mean(gxhat) - xhat mean(gxhat xhat))
                mean_g, mean_gx = gxhat.mean(axis=-1, keepdims=True), (gxhat * self.xhat).mean(axis=-1, keepdims=True)
                gx = self.rstd * (gxhat - mean_g - self.xhat * mean_gx)
            rows = (-1, g.shape[-1])
            gw = (g * self.xhat).reshape(rows).sum(axis=0) if need_w else None
            gb = g.reshape(rows).sum(axis=0) if need_b else None
        return (gx, *([gw] if self.w is not None else []), *([gb] if self.has_b else []))


class RMSNorm(Function):
    """x / sqrt(mean(x^2) + eps) * weight over the last axis (Zhang & Sennrich, 2019)."""

    __slots__ = ("xhat", "rstd", "w")

    def forward(self, x, w, eps=1e-5):
        self.w = w
        if (k := fast.kernel(x)) is not None:
            y, self.xhat, self.rstd = k.rms_norm(x, w, eps, is_grad_enabled())
            return y
        y, self.xhat, self.rstd = rms_norm(x, w, eps)
        return y

    def backward(self, g):
        if (k := fast.kernel(g)) is not None:
            return k.rms_norm_backward(g, self.xhat, self.rstd, self.w, self.needs[0], self.needs[1])
        return rms_norm_backward(g, self.xhat, self.rstd, self.w, self.needs[0], self.needs[1])


def rms_norm(x, w, eps):
    """(y, xhat, rstd) over the last axis: rstd = 1 / sqrt(mean(x^2) + eps), xhat = x rstd, y = xhat w."""
    rstd = 1 / np.sqrt((x * x).mean(axis=-1, keepdims=True) + eps)  # (..., 1)
    xhat = x * rstd
    return xhat * w, xhat, rstd


def rms_norm_backward(g, xhat, rstd, w, need_x: bool, need_w: bool):
    """(gx, gw): gx = rstd (g w - xhat mean(g w xhat)), gw = g xhat summed over every row; None where not needed."""
    gxhat = g * w
    gx = rstd * (gxhat - xhat * (gxhat * xhat).mean(axis=-1, keepdims=True)) if need_x else None
    gw = (g * xhat).reshape(-1, g.shape[-1]).sum(axis=0) if need_w else None
    return gx, gw


class GeluTanh(Function):
    """GELU, tanh approximation (Hendrycks & Gimpel, 2016): 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))."""

    __slots__ = ("x", "s")

    def forward(self, x):
        self.x = x
        if (k := fast.kernel(x)) is not None:
            y, self.s = k.gelu_tanh(x, is_grad_enabled())
            return y
        self.s = 0.5 * (1 + np.tanh(_K * (x + _C * x**3)))  # the gate s, kept for backward
        return x * self.s

    def backward(self, g):
        if (k := fast.kernel(g)) is not None:
            return (k.gelu_tanh_backward(self.x, self.s, g),)
        x, s = self.x, self.s
        # d(x s)/dx = s + x s'(x), with s' = 2 s (1 - s) K (1 + 3c x^2) since 1 - tanh^2 = 4 s (1 - s)
        return (g * s * (1 + (1 - s) * x * (2 * _K + 6 * _K * _C * x * x)),)


class GeluErf(Function):
    """Exact GELU: x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2))."""

    __slots__ = ("x", "cdf")

    def forward(self, x):
        self.x, self.cdf = x, 0.5 * (1 + erf(x * (1 / math.sqrt(2))))
        return x * self.cdf

    def backward(self, g):
        x = self.x
        return (g * (self.cdf + x * np.exp(-0.5 * x * x) * (1 / math.sqrt(2 * math.pi))),)  # Phi + x phi


class Linear(Function):
    """y = x @ weight.T + bias with weight (out, in), over the last axis of x."""

    __slots__ = ("x", "w")

    def forward(self, x, w, *b):
        if x.shape[-1] != w.shape[1]:
            raise AutogradError(
                f"Linear: input {x.shape} has {x.shape[-1]} features but weight {w.shape} expects {w.shape[1]}; "
                "match in_features to the input's last dim"
            )
        self.x, self.w = x, w
        if (k := fast.kernel(x)) is not None:
            return k.linear(x, w, b[0] if b else None)
        y = x @ w.T  # (..., in) @ (in, out) -> (..., out)
        return y + b[0] if b else y

    def backward(self, g):
        need_x, need_w = self.needs[0], self.needs[1]
        if (k := fast.kernel(g)) is not None:
            gx, gw = k.linear_backward(g, self.x, self.w, need_x, need_w)
        else:
            g2, x2 = g.reshape(-1, g.shape[-1]), self.x.reshape(-1, self.x.shape[-1])  # (N, out), (N, in)
            gx = g @ self.w if need_x else None  # (..., out) @ (out, in)
            gw = g2.T @ x2 if need_w else None  # (out, N) @ (N, in)
        if len(self.needs) == 2:
            return gx, gw
        return gx, gw, (g.reshape(-1, g.shape[-1]).sum(axis=0) if self.needs[2] else None)


class Embedding(Function):
    """weight[idx] for integer idx of any shape; backward scatter-adds rows (repeated ids accumulate)."""

    __slots__ = ("idx", "w_shape", "dtype")

    def forward(self, w, idx):
        idx = np.asarray(idx)
        if idx.dtype.kind not in "iu" or (idx.size and (idx.min() < 0 or idx.max() >= w.shape[0])):
            raise AutogradError(
                f"Embedding: ids must be integers in [0, {w.shape[0]}) for weight {w.shape}, got {idx.dtype} "
                f"in [{idx.min() if idx.size else 0}, {idx.max() if idx.size else 0}]; check the vocabulary size"
            )
        self.idx, self.w_shape, self.dtype = idx, w.shape, w.dtype
        if (k := fast.kernel(w)) is not None:
            return k.embedding(w, idx)
        return w[idx]  # (..., C)

    def backward(self, g):
        if (k := fast.kernel(g)) is not None and (gw := k.embedding_backward(self.idx, g, self.w_shape)) is not None:
            return (gw,)
        gw = np.zeros(self.w_shape, dtype=self.dtype)
        np.add.at(gw, self.idx.reshape(-1), g.reshape(-1, self.w_shape[1]))  # repeated ids add up
        return (gw,)


class Dropout(Function):
    """Zero each element with probability p and scale the rest by 1/(1-p); randomness from the given Generator."""

    __slots__ = ("mask",)

    def forward(self, x, p, rng):
        if not 0 <= p < 1:
            raise AutogradError(f"Dropout: p={p} outside [0, 1); use 0 to disable dropout")
        if (k := fast.kernel(x)) is not None:
            y, self.mask = k.dropout(x, rng, p)
            return y
        self.mask = dropout_mask(rng, x.shape, x.dtype, p)
        return x * self.mask

    def backward(self, g):
        if (k := fast.kernel(g)) is not None and g.dtype == self.mask.dtype:  # into a pooled array
            return (k.dropout_backward(g, self.mask),)
        return (g * self.mask,)


def dropout_mask(rng: np.random.Generator, shape, dtype, p: float) -> np.ndarray:
    """1 / (1 - p) where kept, 0 where dropped (probability p), in dtype. The uniforms are drawn in dtype, or in
    float64 where Generator.random has no such dtype (float16)."""
    dtype = np.dtype(dtype)
    draw = dtype if dtype in (np.float32, np.float64) else np.float64
    return (rng.random(shape, dtype=draw) >= p).astype(dtype) * dtype.type(1 / (1 - p))
