"""Fused primitives for neural nets: written by hand for numerical stability and speed.

Each one has a composite twin in `functional.py` built from plain primitives, and a test shows they agree.
"""

from __future__ import annotations

import math

import numpy as np

from .engine import AutogradError, Function
from .ops_elementwise import erf_np


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

    __slots__ = ("probs", "targets", "weights", "in_shape")

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
        valid = t != ignore_index
        if not valid.all() or t.min(initial=0) < 0 or t.max(initial=0) >= V:
            bad = valid & ((t < 0) | (t >= V))
            if bad.any():
                raise AutogradError(
                    f"CrossEntropy: target {int(t[bad][0])} outside [0, {V}) for logits {logits.shape}; "
                    "check the vocabulary size or set ignore_index for padding"
                )
            t = np.where(valid, t, 0)
        rows = np.arange(L.shape[0])
        shifted = L - L.max(axis=1, keepdims=True)
        e = np.exp(shifted)
        s = e.sum(axis=1)
        nll = np.log(s) - shifted[rows, t]  # (N,)
        e /= s[:, None]  # reuse the buffer as probs for backward
        count = int(valid.sum())
        if reduction == "mean":
            w = valid / logits.dtype.type(max(count, 1))
            out = np.dot(nll, w).astype(logits.dtype)
        elif reduction == "sum":
            w = valid.astype(logits.dtype)
            out = np.dot(nll, w).astype(logits.dtype)
        else:
            w = valid.astype(logits.dtype)
            out = (nll * w).reshape(targets.shape)
        self.probs, self.targets, self.weights, self.in_shape = e, t, w.astype(logits.dtype), logits.shape
        return out

    def backward(self, g):
        gl = self.probs  # safe to overwrite: the graph is freed after this backward
        gl[np.arange(gl.shape[0]), self.targets] -= 1
        gl *= (self.weights * g.reshape(-1))[:, None] if g.ndim else (self.weights * g)[:, None]
        return gl.reshape(self.in_shape), None


class LayerNorm(Function):
    """(x - mean) / sqrt(var + eps) * weight + bias over the last axis; weight and bias are optional inputs."""

    __slots__ = ("xhat", "rstd", "w", "has_b")

    def forward(self, x, *wb, eps=1e-5, has_weight=True):
        mu = x.mean(axis=-1, keepdims=True)
        xc = x - mu
        var = np.mean(xc * xc, axis=-1, keepdims=True)
        self.rstd = 1 / np.sqrt(var + eps)
        self.xhat = xc * self.rstd
        self.w = wb[0] if has_weight else None
        self.has_b = len(wb) == (2 if has_weight else 1)
        y = self.xhat * self.w if has_weight else self.xhat.copy()
        if self.has_b:
            y += wb[-1]
        return y

    def backward(self, g):
        C = g.shape[-1]
        g2 = g.reshape(-1, C)  # (N, C)
        grads = []
        gxhat = g * self.w if self.w is not None else g
        gx = None
        if self.needs[0]:
            m1 = gxhat.mean(axis=-1, keepdims=True)
            m2 = (gxhat * self.xhat).mean(axis=-1, keepdims=True)
            gx = self.rstd * (gxhat - m1 - self.xhat * m2)
        grads.append(gx)
        if self.w is not None:
            grads.append((g2 * self.xhat.reshape(-1, C)).sum(axis=0))
        if self.has_b:
            grads.append(g2.sum(axis=0))
        return tuple(grads)


class RMSNorm(Function):
    """x / sqrt(mean(x^2) + eps) * weight over the last axis (Zhang & Sennrich, 2019)."""

    __slots__ = ("xhat", "rstd", "w")

    def forward(self, x, w, eps=1e-5):
        self.rstd = 1 / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps)
        self.xhat = x * self.rstd
        self.w = w
        return self.xhat * w

    def backward(self, g):
        C = g.shape[-1]
        gxhat = g * self.w
        gx = None
        if self.needs[0]:
            gx = self.rstd * (gxhat - self.xhat * (gxhat * self.xhat).mean(axis=-1, keepdims=True))
        gw = (g.reshape(-1, C) * self.xhat.reshape(-1, C)).sum(axis=0) if self.needs[1] else None
        return gx, gw


_K = math.sqrt(2 / math.pi)


class GeluTanh(Function):
    """GELU, tanh approximation (Hendrycks & Gimpel, 2016): 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))."""

    __slots__ = ("x", "t")

    def forward(self, x):
        self.x = x
        self.t = np.tanh(_K * (x + 0.044715 * x * x * x))
        return 0.5 * x * (1 + self.t)

    def backward(self, g):
        x, t = self.x, self.t
        dy = 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * _K * (1 + 3 * 0.044715 * x * x)
        return (g * dy,)


class GeluErf(Function):
    """Exact GELU: x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2))."""

    __slots__ = ("x", "cdf")

    def forward(self, x):
        self.x = x
        self.cdf = 0.5 * (1 + erf_np(x * (1 / math.sqrt(2))))
        return x * self.cdf

    def backward(self, g):
        x = self.x
        pdf = np.exp(-0.5 * x * x) * (1 / math.sqrt(2 * math.pi))
        return (g * (self.cdf + x * pdf),)


class Linear(Function):
    """y = x @ weight.T + bias with weight (out, in); leading dims of x are flattened into one GEMM."""

    __slots__ = ("x2", "w", "in_shape")

    def forward(self, x, w, *b):
        if x.shape[-1] != w.shape[1]:
            raise AutogradError(
                f"Linear: input {x.shape} has {x.shape[-1]} features but weight {w.shape} expects {w.shape[1]}; "
                "match in_features to the input's last dim"
            )
        self.in_shape, self.w = x.shape, w
        self.x2 = x.reshape(-1, x.shape[-1])  # (N, in)
        y = self.x2 @ w.T  # (N, in) @ (in, out) -> (N, out)
        if b:
            y += b[0]
        return y.reshape(*x.shape[:-1], w.shape[0])

    def backward(self, g):
        g2 = g.reshape(-1, g.shape[-1])  # (N, out)
        gx = (g2 @ self.w).reshape(self.in_shape) if self.needs[0] else None  # (N, out) @ (out, in)
        gw = g2.T @ self.x2 if self.needs[1] else None  # (out, N) @ (N, in)
        if len(self.needs) == 2:
            return gx, gw
        return gx, gw, (g2.sum(axis=0) if self.needs[2] else None)


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
        return w[idx]

    def backward(self, g):
        gw = np.zeros(self.w_shape, dtype=self.dtype)
        np.add.at(gw, self.idx.reshape(-1), g.reshape(-1, self.w_shape[1]))
        return (gw,)


class Dropout(Function):
    """Zero each element with probability p and scale the rest by 1/(1-p); randomness from the given Generator."""

    __slots__ = ("mask",)

    def forward(self, x, p, rng):
        if not 0 <= p < 1:
            raise AutogradError(f"Dropout: p={p} outside [0, 1); use 0 to disable dropout")
        keep = rng.random(x.shape, dtype=x.dtype if x.dtype in (np.float32, np.float64) else np.float64) >= p
        self.mask = keep * x.dtype.type(1 / (1 - p))
        return x * self.mask

    def backward(self, g):
        return (g * self.mask,)


def causal_mask(T: int, S: int) -> np.ndarray:
    """True where query i (the last T of S positions) must not see key j: j > i + (S - T)."""
    return np.triu(np.ones((T, S), dtype=bool), k=S - T + 1)


class Attention(Function):
    """softmax(q k^T / sqrt(d) [+ causal mask]) v, with dropout on the probabilities; q (B,H,T,d), k/v (B,H,S,d)."""

    __slots__ = ("q", "k", "v", "att", "drop", "scale")

    def forward(self, q, k, v, causal=True, dropout_p=0.0, rng=None):
        if q.shape[-1] != k.shape[-1] or k.shape != v.shape or q.shape[:-2] != k.shape[:-2]:
            raise AutogradError(
                f"Attention: q {q.shape}, k {k.shape}, v {v.shape} must be (B,H,T,d), (B,H,S,d), (B,H,S,d); "
                "split heads with reshape + permute first"
            )
        T, S = q.shape[-2], k.shape[-2]
        self.scale = q.dtype.type(1 / math.sqrt(q.shape[-1]))
        att = q @ np.swapaxes(k, -1, -2)  # (B,H,T,d) @ (B,H,d,S) -> (B,H,T,S)
        att *= self.scale
        if causal:
            att[..., causal_mask(T, S)] = -np.inf
        att -= att.max(axis=-1, keepdims=True)
        np.exp(att, out=att)
        att /= att.sum(axis=-1, keepdims=True)
        self.q, self.k, self.v, self.att, self.drop = q, k, v, att, None
        if dropout_p > 0:
            if rng is None:
                raise AutogradError("Attention: dropout_p > 0 needs rng=np.random.Generator; pass the model's rng")
            keep = rng.random(att.shape, dtype=att.dtype) >= dropout_p
            self.drop = keep * att.dtype.type(1 / (1 - dropout_p))
            return (att * self.drop) @ v  # (B,H,T,S) @ (B,H,S,d) -> (B,H,T,d)
        return att @ v

    def backward(self, g):
        att, drop = self.att, self.drop
        att_d = att if drop is None else att * drop
        gv = np.swapaxes(att_d, -1, -2) @ g if self.needs[2] else None  # (B,H,S,T) @ (B,H,T,d)
        gatt = g @ np.swapaxes(self.v, -1, -2)  # (B,H,T,d) @ (B,H,d,S) -> (B,H,T,S)
        if drop is not None:
            gatt *= drop
        # softmax backward, in place: ds = att * (gatt - sum(gatt * att))
        gatt -= (gatt * att).sum(axis=-1, keepdims=True)
        gatt *= att
        gatt *= self.scale
        gq = gatt @ self.k if self.needs[0] else None  # (B,H,T,S) @ (B,H,S,d)
        gk = np.swapaxes(gatt, -1, -2) @ self.q if self.needs[1] else None  # (B,H,S,T) @ (B,H,T,d)
        return gq, gk, gv
