"""The numeric core of fused attention on one block of (batch, heads), forward and backward, in query tiles.

Scores are kept key-major, (b,h,S,T): the softmax then reduces over axis -2, which NumPy vectorises across the
contiguous query axis (a last-axis max over short rows is ~4x slower), and column sums are GEMVs. A tile
(t0, t1, s1) covers queries t0..t1 and the keys < s1 they can see; other key rows of those columns are never
computed or read (with one tile, s1 = S: the whole block).
"""

from __future__ import annotations

import numpy as np

from . import memory

TILE = 1024  # queries per tile when a long causal block is split, skipping its masked upper triangle.
# Measured on the 10.7M GPT (T=256): 64- or 128-query tiles saved no time (their smaller GEMMs run slower than the
# skipped work costs), so tiling starts only at T >= 2048.


def _scaled(a, scale):
    """a * scale into a pooled array (a fresh (b,h,T,d) temporary per block would be a fresh mmap at large T)."""
    return np.multiply(a, scale, out=memory.empty(a.shape, a.dtype))


def _colsum(a):
    """Sum over axis -2 as a GEMV with a ones vector: (S,) @ (b,h,S,T) -> (b,h,1,T), several times np.sum's speed."""
    return np.matmul(np.ones(a.shape[-2], a.dtype), a)[..., None, :]


def _scores(k, qs, bias_t, st, t0, s1):
    """st <- k qs^T + bias^T (b,h,s1,r) for one tile; only rows >= t0 + S - T can be masked."""
    np.matmul(k[:, :, :s1], qs.swapaxes(-1, -2), out=st)  # (b,h,s1,d) @ (b,h,d,r) -> (b,h,s1,r)
    if bias_t is not None:
        lo = t0 + bias_t.shape[0] - bias_t.shape[1]  # first key row any query of the tile may not see
        st[:, :, lo:] += bias_t[lo:s1, t0 : t0 + st.shape[-1]]


def _softmax_cols(p, k, qs, bias_t, t0, s1, own):
    """p <- exp(p - shift) for one tile of scores (b,h,s1,r); returns (shift, column sums), both (b,h,1,r).

    The shift is each query's own score (row `own` + j of column j, always visible), not the column max: that
    saves the max pass, and the sum cannot underflow (its own term is exp(0) = 1). A score more than ~88 above it
    overflows; then the tile is recomputed with the exact max, as it is when queries outnumber keys (own < 0)."""
    r = p.shape[-1]
    if own >= 0:
        m = np.diagonal(p[:, :, own : own + r], axis1=-2, axis2=-1)[:, :, None, :].copy()  # (b,h,1,r)
        p -= m
        with np.errstate(over="ignore"):  # detected below
            np.exp(p, out=p)
        lsum = _colsum(p)
        if np.isfinite(lsum).all():
            return m, lsum
        _scores(k, qs, bias_t, p, t0, s1)  # overflow (or NaN input, which the exact path propagates too)
    m = p.max(axis=-2, keepdims=True)
    p -= m
    np.exp(p, out=p)
    return m, _colsum(p)


def attend(q, k, v, out, scale, bias_t, keep, pt, tiles):
    """out <- softmax(q k^T * scale + bias) [* keep] @ v, probabilities left key-major in pt (b,h,S,T);
    returns the log-sum-exp per query (b,h,1,T)."""
    qs = _scaled(q, scale)
    S, T = k.shape[2], q.shape[2]
    lse = np.empty((*q.shape[:2], 1, T), q.dtype)
    for t0, t1, s1 in tiles:
        p = pt[:, :, :s1, t0:t1]
        _scores(k, qs[:, :, t0:t1], bias_t, p, t0, s1)
        m, lsum = _softmax_cols(p, k, qs[:, :, t0:t1], bias_t, t0, s1, t0 + S - T)
        p *= 1 / lsum
        pd = p if keep is None else p * keep[:, :, :s1, t0:t1]
        np.matmul(pd.swapaxes(-1, -2), v[:, :, :s1], out=out[:, :, t0:t1])  # (b,h,r,s1) @ (b,h,s1,d)
        np.log(lsum, out=lsum)
        lsum += m
        lse[..., t0:t1] = lsum
    return lse


def _into(dst, a, b, acc, first):
    """dst <- a @ b on the first (widest) tile, dst[:rows] += a @ b after (via the scratch acc)."""
    if first:
        np.matmul(a, b, out=dst)
    else:
        part = acc[:, :, : a.shape[2]]
        np.matmul(a, b, out=part)
        dst[:, :, : a.shape[2]] += part


def attend_backward(q, k, v, g, D, lse, scale, bias_t, keep, gq, gk, gv, pt, dst, recompute, tiles, acc):
    """Gradients of `attend` into the views gq, gk, gv (None to skip); D = rowsum(g * out) per query (b,h,1,T).
    pt holds the probabilities, or (recompute) is scratch for them; dst is scratch for the score gradient;
    acc (b,h,S,d) is scratch for the key-side partial sums when there are several tiles."""
    qs = _scaled(q, scale)
    for i, (t0, t1, s1) in enumerate(reversed(tiles)):  # the last tile sees every key: it initialises gk, gv
        p, ds, gt = pt[:, :, :s1, t0:t1], dst[:, :, :s1, t0:t1], g[:, :, t0:t1]
        if recompute:
            _scores(k, qs[:, :, t0:t1], bias_t, p, t0, s1)
            p -= lse[..., t0:t1]
            np.exp(p, out=p)
        kp = None if keep is None else keep[:, :, :s1, t0:t1]
        np.matmul(v[:, :, :s1], gt.swapaxes(-1, -2), out=ds)  # dP^T: (b,h,s1,d) @ (b,h,d,r) -> (b,h,s1,r)
        if kp is not None:
            ds *= kp
        ds -= D[..., t0:t1]
        ds *= p  # softmax backward: p * (dp - rowsum(p * dp)), and rowsum(p * dp) = rowsum(g * out)
        if gv is not None:
            if kp is not None:
                p *= kp
            _into(gv, p, gt, acc, i == 0)  # (b,h,s1,r) @ (b,h,r,d) -> (b,h,s1,d)
        if gq is not None:
            np.matmul(ds.swapaxes(-1, -2), k[:, :, :s1], out=gq[:, :, t0:t1])  # (b,h,r,s1) @ (b,h,s1,d)
            gq[:, :, t0:t1] *= scale
        if gk is not None:
            _into(gk, ds, qs[:, :, t0:t1], acc, i == 0)  # (b,h,s1,r) @ (b,h,r,d) -> (b,h,s1,d)
