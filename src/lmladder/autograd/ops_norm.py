"""Batch normalisation (Ioffe & Szegedy, 2015), fused: forward and backward by hand, as the layer norms in ops_nn.

Statistics over every axis but the last, so (N, C) and (B, T, C) inputs both work. The rows the training statistics
come from can be restricted by a mask: a language model scores padded batches, and padding rows must not move the
statistics away from what evaluation sees.
"""

from __future__ import annotations

import numpy as np

from .engine import AutogradError, Function


class BatchNorm(Function):
    """(x - mean) / sqrt(var + eps) * weight + bias over all axes but the last; batch or running statistics."""

    __slots__ = ("xhat", "rstd", "w", "rows", "n")

    def forward(self, x, w, b, *, training=True, running=None, momentum=0.1, eps=1e-5, mask=None):
        C = x.shape[-1]
        x2 = x.reshape(-1, C)  # (N, C) rows
        # (N,) booleans (an integer mask would index rows instead of picking them), or None: every row
        self.rows = None if mask is None else np.broadcast_to(np.asarray(mask, dtype=bool), x.shape[:-1]).reshape(-1)
        if training:
            picked = x2 if self.rows is None else x2[self.rows]  # (n, C): the rows that carry a target
            self.n = picked.shape[0]
            if self.n < 2:
                raise AutogradError(
                    f"BatchNorm: training statistics need at least 2 rows, got {self.n} of input {x.shape}; "
                    "use batch_size >= 2"
                )
            mean, var = picked.mean(axis=0), picked.var(axis=0)  # (C,), biased: what the batch is normalised by
            if running is not None:  # PyTorch's update: the running variance is the unbiased estimate
                rm, rv = running
                rm *= 1 - momentum
                rm += (momentum * mean).astype(rm.dtype, copy=False)
                rv *= 1 - momentum
                rv += (momentum * var * self.n / (self.n - 1)).astype(rv.dtype, copy=False)
        else:  # evaluation: a fixed affine map, no gradient through the statistics
            mean, var = running
            self.n = 0
        self.rstd = (1 / np.sqrt(var + eps)).astype(x.dtype, copy=False)  # (C,)
        self.xhat = (x2 - mean) * self.rstd  # (N, C)
        self.w = w
        return (self.xhat * w + b).reshape(x.shape)

    def backward(self, g):
        C = g.shape[-1]
        g2 = g.reshape(-1, C)  # (N, C)
        gx = None
        if self.needs[0]:
            gxhat = g2 * self.w  # (N, C)
            gx = gxhat * self.rstd
            if self.n:  # the batch statistics depend on the picked rows, and every row's output on them
                s1, s2 = gxhat.sum(axis=0), (gxhat * self.xhat).sum(axis=0)  # (C,), (C,)
                through_stats = (s1 + self.xhat * s2) * (self.rstd / self.n)  # (N, C)
                if self.rows is None:
                    gx -= through_stats
                else:
                    gx -= through_stats * self.rows[:, None]
            gx = gx.reshape(g.shape)
        gw = (g2 * self.xhat).sum(axis=0) if self.needs[1] else None
        gb = g2.sum(axis=0) if self.needs[2] else None
        return gx, gw, gb
