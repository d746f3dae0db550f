"""Fused primitives for neural nets: written by hand for numerical stability and speed.

Each one has a composite twin in `functional.py` built from plain primitives, and a test shows they agree.
"""

from __future__ import annotations

import numpy as np

from ..fast import kernels as K
from ..fast import memory
from ..fast import modern as KM
from .engine import AutogradError, Function


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
        e = np.subtract(L, L.max(axis=1, keepdims=True), out=memory.empty(L.shape, L.dtype))  # exp never overflows
        nll = -e[rows, t]
        np.exp(e, out=e)
        s = e.sum(axis=1)
        nll += np.log(s)  # (N,) log-sum-exp minus the target's logit
        e /= s[:, None]  # the buffer becomes the probabilities backward needs
        if valid is not None:
            nll *= valid
        count = t.size if valid is None else int(np.count_nonzero(valid))
        self.scale = 1 / max(count, 1) if reduction == "mean" else 1.0
        if reduction == "none":
            out = nll.reshape(targets.shape)
        else:
            out = np.asarray(nll.sum() * self.scale, dtype=logits.dtype)
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
        C = x.shape[-1]
        self.w = wb[0] if has_weight else None
        self.has_b = len(wb) == (2 if has_weight else 1)
        y, self.xhat, self.rstd = K.layer_norm_forward(
            x.reshape(-1, C), self.w, wb[-1] if self.has_b else None, eps
        )  # (N, C) rows
        return y.reshape(x.shape)

    def backward(self, g):
        C = g.shape[-1]
        need_w = self.w is not None and self.needs[1]
        need_b = self.has_b and self.needs[-1]
        g2 = g.reshape(-1, C)  # (N, C)
        gx, gw, gb = K.layer_norm_backward(g2, self.xhat, self.rstd, self.w, self.needs[0], need_w, need_b)
        grads = [None if gx is None else gx.reshape(g.shape)]
        if self.w is not None:
            grads.append(gw)
        if self.has_b:
            grads.append(gb)
        return tuple(grads)


class RMSNorm(Function):
    """x / sqrt(mean(x^2) + eps) * weight over the last axis (Zhang & Sennrich, 2019)."""

    __slots__ = ("xhat", "rstd", "w")

    def forward(self, x, w, eps=1e-5):
        y, self.xhat, self.rstd = KM.rms_norm_forward(x, w, eps)  # xhat = x rstd, y = xhat w
        self.w = w
        return y

    def backward(self, g):
        # gx = rstd (g w - xhat mean(g w xhat)), gw = sum of g xhat over rows
        return KM.rms_norm_backward(g, self.xhat, self.rstd, self.w, self.needs[0], self.needs[1])


class GeluTanh(Function):
    """GELU, tanh approximation (Hendrycks & Gimpel, 2016): 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))."""

    __slots__ = ("x", "s")

    def forward(self, x):
        y, self.s = K.gelu_tanh_forward(x)
        self.x = x
        return y

    def backward(self, g):
        return (K.gelu_tanh_backward(self.x, self.s, g),)


class GeluErf(Function):
    """Exact GELU: x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2))."""

    __slots__ = ("x", "cdf")

    def forward(self, x):
        y, self.cdf = K.gelu_erf_forward(x)
        self.x = x
        return y

    def backward(self, g):
        return (K.gelu_erf_backward(self.x, self.cdf, g),)


class Residual(Function):
    """x + y of one shape and dtype (a residual stream and a block's output); the gradient passes to both."""

    __slots__ = ()

    def forward(self, x, y):
        if x.shape != y.shape or x.dtype != y.dtype:
            raise AutogradError(
                f"Residual: {x.shape} {x.dtype} and {y.shape} {y.dtype} differ; add tensors of one shape and dtype "
                "(use + to broadcast)"
            )
        return K.add(x, y)

    def backward(self, g):
        return g, g


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
        dt = x.dtype if x.dtype == w.dtype else np.result_type(x, w)
        y = K.matmul(self.x2, w.T, memory.empty((self.x2.shape[0], w.shape[0]), dt))  # (N, in) @ (in, out)
        if b:
            y += b[0]
        return y.reshape(*x.shape[:-1], w.shape[0])

    def backward(self, g):
        g2 = g.reshape(-1, g.shape[-1])  # (N, out)
        w, x2 = self.w, self.x2
        gx = gw = None
        if self.needs[0]:
            dt = g.dtype if g.dtype == w.dtype else np.result_type(g, w)
            gx = memory.empty((g2.shape[0], w.shape[1]), dt)  # (N, out) @ (out, in)
        if self.needs[1]:
            dt = g.dtype if g.dtype == x2.dtype else np.result_type(g, x2)
            gw = memory.empty(w.shape, dt)  # (out, N) @ (N, in)
        if gx is not None and gw is not None:
            K.matmul_pair(g2, w, gx, g2.T, x2, gw)  # equal FLOPs: one product per core
        elif gx is not None:
            K.matmul(g2, w, gx)
        elif gw is not None:
            K.matmul(g2.T, x2, gw)
        if gx is not None:
            gx = gx.reshape(self.in_shape)
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
        # ids were range-checked above, so mode="clip" (unbuffered) is exact
        return np.take(w, idx, axis=0, out=memory.empty((*idx.shape, w.shape[1]), w.dtype), mode="clip")

    def backward(self, g):
        V, C = self.w_shape
        ids, g2 = self.idx.reshape(-1), g.reshape(-1, C)  # (N,), (N, C)
        if V <= 4096 and V * ids.size <= 1 << 24:
            # small vocabulary: a one-hot GEMM sums the rows, ~5-50x faster than np.add.at's scatter
            onehot = memory.empty((V, ids.size), self.dtype)
            onehot.fill(0)
            onehot[ids, np.arange(ids.size)] = 1
            with np.errstate(invalid="ignore"):  # a non-finite g is handled below
                gw = onehot @ g2  # (V, N) @ (N, C) -> (V, C)
            if np.isfinite(gw).all():
                return (gw,)
        # 0 * inf = nan would leak into unused rows; the scatter keeps them exactly zero
        gw = np.zeros(self.w_shape, dtype=self.dtype)
        np.add.at(gw, ids, g2)
        return (gw,)


class Dropout(Function):
    """Zero each element with probability p and scale the rest by 1/(1-p); randomness from the given Generator."""

    __slots__ = ("mask",)

    def forward(self, x, p, rng):
        if not 0 <= p < 1:
            raise AutogradError(f"Dropout: p={p} outside [0, 1); use 0 to disable dropout")
        self.mask = K.dropout_scale(rng, x.shape, x.dtype, p)
        return x * self.mask

    def backward(self, g):
        return (g * self.mask,)
