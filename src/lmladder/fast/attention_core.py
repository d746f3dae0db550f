"""The numeric core of fused attention on one chunk of (batch, heads), forward and backward, in query tiles.

Scores are kept key-major, (b,h,S,T): the softmax then reduces over axis -2, which NumPy vectorises across the
contiguous query axis (a last-axis max over short rows is ~4x slower), and column sums are GEMVs. A tile
(t0, t1, s1) covers queries t0..t1 and the keys < s1 they can see; other key rows of those columns are never
computed or read (with one tile, s1 = S: the whole chunk).
"""

from __future__ import annotations

import numpy as np

from . import memory
from .kernels import compiled
from .memory import filled

TILE = 1024  # queries per tile when a long causal chunk is split, skipping its masked upper triangle.
# Measured on the 10.7M GPT (T=256): 64- or 128-query tiles saved no time (their smaller GEMMs run slower than the
# skipped work costs), so tiling starts only at T >= 2048.


class Chunk:
    """One chunk of (batch, heads) as the kernels see it: views into the call's arrays, plus the call's constants.

    q (b,h,T,d), k and v (b,h,S,d); keep: the dropout multiplier (b,h,S,T) or None; probs (b,h,S,T): the kept
    probabilities, or (recompute) scratch to compute them in; lse (b,h,1,T): log-sum-exp per query, written by
    `attend`; scale: 1 / sqrt(d); bias: the causal mask as an additive key-major (S, T) bias, or None; tiles: the
    query tiles (t0, t1, s1)."""

    __slots__ = ("q", "k", "v", "keep", "probs", "recompute", "lse", "scale", "bias", "tiles")


class Grads:
    """What `attend_backward` reads and writes for one chunk: upstream g (b,h,T,d), D = rowsum(g * out) per query
    (b,h,1,T), the views gq (b,h,T,d), gk and gv (b,h,S,d) to fill (None to skip), and scratch: ds (b,h,S,T) for
    the score gradient, acc (b,h,S,d) for key-side partial sums when there are several tiles (else None)."""

    __slots__ = ("g", "D", "gq", "gk", "gv", "ds", "acc")


def _scaled(a, scale):
    """a * scale into a pooled array (a fresh (b,h,T,d) temporary per chunk would be a fresh mmap at large T)."""
    return np.multiply(a, scale, out=memory.empty(a.shape, a.dtype))


def _colsum(a, out):
    """out (b,h,1,T) <- the sum of a (b,h,S,T) over axis -2, as a GEMV with a ones vector (several times np.sum's
    speed); returns out."""
    np.matmul(filled(a.shape[-2], 1, a.dtype), a, out=out[..., 0, :])
    return out


def _scores(ck: Chunk, qs, st, tile):
    """st <- k qs^T + bias^T (b,h,s1,r) for one tile of the scaled queries qs; only rows >= t0 + S - T can be
    masked."""
    t0, t1, s1 = tile
    np.matmul(ck.k[:, :, :s1], qs[:, :, t0:t1].swapaxes(-1, -2), out=st)  # (b,h,s1,d) @ (b,h,d,r) -> (b,h,s1,r)
    if ck.bias is not None:
        lo = t0 + ck.bias.shape[0] - ck.bias.shape[1]  # first key row any query of the tile may not see
        st[:, :, lo:] += ck.bias[lo:s1, t0:t1]


def _softmax_cols(ck: Chunk, qs, p, tile, m, lsum) -> None:
    """p <- exp(p - m) for one tile of scores (b,h,s1,r), the shift into m and the column sums into lsum (b,h,1,r).

    The shift is each query's own score (row own + j of column j, always visible), not the column max: that
    saves the max pass, and the sum cannot underflow (its own term is exp(0) = 1). A score more than ~88 above it
    overflows; then the tile is recomputed with the exact max, as it is when queries outnumber keys (own < 0)."""
    r, own = p.shape[-1], tile[0] + ck.k.shape[2] - ck.q.shape[2]
    if own >= 0:
        m[..., 0, :] = p[:, :, own : own + r].diagonal(axis1=-2, axis2=-1)  # (b,h,r)
        p -= m
        with np.errstate(over="ignore"):  # detected below
            np.exp(p, out=p)
        if np.maximum.reduce(_colsum(p, lsum), axis=None) < np.inf:  # every sum finite (a NaN fails this too)
            return
        _scores(ck, qs, p, tile)  # overflow (or NaN input, which the exact path propagates too)
    p.max(axis=-2, keepdims=True, out=m)
    p -= m
    np.exp(p, out=p)
    _colsum(p, lsum)


def attend(ck: Chunk, out) -> None:
    """out (b,h,T,d) <- softmax(q k^T * scale + bias) [* keep] @ v; the probabilities are left key-major in
    ck.probs, the log-sum-exp per query in ck.lse."""
    qs = _scaled(ck.q, ck.scale)
    shift, colsum = memory.empty((2, *ck.lse.shape), ck.lse.dtype)  # per query, (b,h,1,T) each
    for tile in ck.tiles:
        t0, t1, s1 = tile
        p, m, lsum = ck.probs[:, :, :s1, t0:t1], shift[..., t0:t1], colsum[..., t0:t1]
        _scores(ck, qs, p, tile)
        if (jit := compiled(p)) and p.flags.c_contiguous and ck.lse.flags.c_contiguous:  # one tile, kept probs
            jit.softmax_cols(p, ck.lse)
        else:
            _softmax_cols(ck, qs, p, tile, m, lsum)
            lse = np.log(lsum, out=ck.lse[..., t0:t1])
            lse += m
            p *= np.divide(1, lsum, out=lsum)  # normalised: p * (1 / sum)
        pd = p if ck.keep is None else np.multiply(p, ck.keep[:, :, :s1, t0:t1], out=memory.empty_like(p))
        np.matmul(pd.swapaxes(-1, -2), ck.v[:, :, :s1], out=out[:, :, t0:t1])  # (b,h,r,s1) @ (b,h,s1,d)


def _into(dst, a, b, acc, first):
    """dst <- a @ b on the first (widest) tile, dst[:rows] += a @ b after (via the scratch acc)."""
    if first:
        np.matmul(a, b, out=dst)
    else:
        part = acc[:, :, : a.shape[2]]
        np.matmul(a, b, out=part)
        dst[:, :, : a.shape[2]] += part


def attend_backward(ck: Chunk, gr: Grads) -> None:
    """Gradients of `attend` into the views gr.gq, gr.gk, gr.gv (those that are not None)."""
    qs = _scaled(ck.q, ck.scale)
    k, v, scale = ck.k, ck.v, ck.scale
    for i, tile in enumerate(reversed(ck.tiles)):  # the last tile sees every key: it initialises gk, gv
        t0, t1, s1 = tile
        p, ds, gt = ck.probs[:, :, :s1, t0:t1], gr.ds[:, :, :s1, t0:t1], gr.g[:, :, t0:t1]
        if ck.recompute:
            _scores(ck, qs, p, tile)
            p -= ck.lse[..., t0:t1]
            np.exp(p, out=p)
        kp = None if ck.keep is None else ck.keep[:, :, :s1, t0:t1]
        np.matmul(v[:, :, :s1], gt.swapaxes(-1, -2), out=ds)  # dP^T: (b,h,s1,d) @ (b,h,d,r) -> (b,h,s1,r)
        if kp is not None:
            ds *= kp
        ds -= gr.D[..., t0:t1]
        ds *= p  # softmax backward: p * (dp - rowsum(p * dp)), and rowsum(p * dp) = rowsum(g * out)
        if gr.gv is not None:
            if kp is not None:
                p *= kp
            _into(gr.gv, p, gt, gr.acc, i == 0)  # (b,h,s1,r) @ (b,h,r,d) -> (b,h,s1,d)
        if gr.gq is not None:
            np.matmul(ds.swapaxes(-1, -2), k[:, :, :s1], out=gr.gq[:, :, t0:t1])  # (b,h,r,s1) @ (b,h,s1,d)
            gr.gq[:, :, t0:t1] *= scale
        if gr.gk is not None:
            _into(gr.gk, ds, qs[:, :, t0:t1], gr.acc, i == 0)  # (b,h,s1,r) @ (b,h,r,d) -> (b,h,s1,d)
