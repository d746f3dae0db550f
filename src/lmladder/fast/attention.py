"""Attention calls laid out for speed: the (batch, heads) chunks and query tiles attention_core.py works on (score
matrices that fit the L2 cache; long causal chunks skip their masked upper triangle tile by tile; probabilities
kept for backward when small, else recomputed from the log-sum-exp), and the choice of kernels_blas.py for causal
self-attention on float32 with `fast` on: one (batch, head) per turn of the one thread pool.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from . import memory
from .attention_core import TILE, Chunk, Grads, attend, attend_backward
from .kernels import blas, dropout_scale

CHUNK_BYTES = 3 << 19  # score-matrix bytes per chunk (1.5 MiB): a chunk stays in the L2 cache
KEEP_BYTES = 1 << 28  # up to 256 MiB of probabilities per call are kept for backward; beyond, recomputed


@functools.lru_cache(maxsize=256)
def _causal_bias(T: int, S: int, dtype: str) -> np.ndarray:
    """The causal mask as an additive key-major (S, T) bias: 0 where visible, -inf where masked (read-only)."""
    # C order: np.where keeps the transposed mask's Fortran layout, and adding that to C-ordered scores
    # walks it with a stride of S elements (10x slower for T = S = 256)
    masked = np.triu(np.ones((T, S), dtype=bool), k=S - T + 1).T  # key j > query i + (S - T)
    bias = np.ascontiguousarray(np.where(masked, -np.inf, 0), dtype=dtype)
    bias.flags.writeable = False
    return bias


@functools.lru_cache(maxsize=256)
def _layout(B: int, H: int, T: int, S: int, itemsize: int, causal: bool, chunk_bytes: int, tile: int):
    """(chunks, tiles, rows) of a call, cached by shape (each decoded token repeats its layer's):

    chunks: (batch slice, head slice) pairs of about chunk_bytes of scores each; tiles: query tiles (t0, t1, s1)
    (causal queries t0..t1 see keys < s1 = t1 + S - T, so for long sequences the key rows past s1, the masked
    upper triangle, are skipped tile by tile); rows: the (batch, heads) a chunk holds at most."""
    head_bytes = T * S * itemsize
    if head_bytes * H <= chunk_bytes:
        bc, hc = min(B, max(1, chunk_bytes // (head_bytes * H))), H
    else:
        bc, hc = 1, max(1, chunk_bytes // head_bytes)
    chunks = [(slice(b, min(b + bc, B)), slice(h, min(h + hc, H))) for b in range(0, B, bc) for h in range(0, H, hc)]
    if not causal or T < 2 * tile:
        tiles = [(0, T, S)]
    else:
        tiles = [(t0, min(t0 + tile, T), min(t0 + tile, T) + S - T) for t0 in range(0, T, tile)]
    return chunks, tiles, bc * hc


class _Saved:
    """What a forward keeps for backward: inputs and output, lse per query, dropout masks per chunk, probabilities
    if small (else None: backward recomputes them from lse), and the call's constants."""

    __slots__ = ("q", "k", "v", "out", "lse", "keeps", "probs", "scale", "bias", "chunks", "tiles", "rows")

    def chunk(self, i: int, bs: slice, hs: slice, scratch) -> Chunk:
        """Chunk i, batch rows bs and heads hs, as views; its probabilities live in `scratch` (n, S, T) when the
        call keeps none."""
        ck = Chunk()
        ck.q, ck.k, ck.v, ck.lse = self.q[bs, hs], self.k[bs, hs], self.v[bs, hs], self.lse[bs, hs]
        ck.keep = self.keeps[i] if self.keeps else None
        ck.recompute = self.probs is None
        if ck.recompute:
            b, h, S, T = ck.k.shape[0], ck.k.shape[1], ck.k.shape[2], ck.q.shape[2]
            ck.probs = scratch[: b * h].reshape(b, h, S, T)
        else:
            ck.probs = self.probs[bs, hs]
        ck.scale, ck.bias, ck.tiles = self.scale, self.bias, self.tiles
        return ck


def forward(q, k, v, out, *, causal, dropout_p, rng) -> _Saved:
    """Chunked attention of q (B,H,T,d) over k, v (B,H,S,d) into the view out (B,H,T,d)."""
    (B, H, T, d), S, dt = q.shape, k.shape[2], q.dtype
    sv = _Saved()
    sv.q, sv.k, sv.v, sv.out, sv.scale = q, k, v, out, _scale(d, dt)
    sv.bias = _causal_bias(T, S, dt.str) if causal and T > 1 else None
    sv.chunks, sv.tiles, sv.rows = _layout(B, H, T, S, dt.itemsize, sv.bias is not None, CHUNK_BYTES, TILE)
    sv.lse, sv.keeps = memory.empty((B, H, 1, T), dt), []
    keep_all = B * H * S * T * dt.itemsize <= KEEP_BYTES
    sv.probs = memory.empty((B, H, S, T), dt) if keep_all else None
    scratch = None if keep_all else memory.empty((sv.rows, S, T), dt)
    for i, (bs, hs) in enumerate(sv.chunks):
        if dropout_p > 0:  # one key-major mask per chunk, drawn in chunk order
            sv.keeps.append(dropout_scale(rng, (bs.stop - bs.start, hs.stop - hs.start, S, T), dt, dropout_p))
        attend(sv.chunk(i, bs, hs, scratch), out[bs, hs])
    return sv


@functools.lru_cache(maxsize=64)
def _scale(d: int, dtype: np.dtype):
    return dtype.type(1 / math.sqrt(d))


def backward(sv: _Saved, g, gq, gk, gv) -> None:
    """Gradients into the (B,H,T,d)/(B,H,S,d) views gq, gk, gv (None to skip) for upstream g (B,H,T,d)."""
    (B, H, T, d), S, dt = sv.q.shape, sv.k.shape[2], sv.q.dtype
    # rowsum(g * out): (B, H, T, d) -> (B, H, 1, T). One einsum, no (B, H, T, d) temporary; into a C-ordered
    # array, because every chunk subtracts it from its scores and a strided broadcast operand is ~3x slower
    D = np.einsum("bhtd,bhtd->bht", g, sv.out, out=memory.empty((B, H, T), dt))[:, :, None]
    scratch = memory.empty((sv.rows, S, T), dt) if sv.probs is None else None
    ds = memory.empty((sv.rows, S, T), dt)
    acc = memory.empty((sv.rows, S, d), dt) if len(sv.tiles) > 1 else None  # per-tile gk, gv partials
    for i, (bs, hs) in enumerate(sv.chunks):
        m = (bs.stop - bs.start) * (hs.stop - hs.start)
        gr = Grads()
        gr.g, gr.D = g[bs, hs], D[bs, hs]
        gr.gq, gr.gk, gr.gv = (None if a is None else a[bs, hs] for a in (gq, gk, gv))
        gr.ds = ds[:m].reshape(*gr.g.shape[:2], S, T)
        gr.acc = None if acc is None else acc[:m].reshape(*gr.g.shape[:2], S, d)
        attend_backward(sv.chunk(i, bs, hs, scratch), gr)


class _Pooled:
    """What the forward on the shared thread pool (kernels_blas) keeps: qkv and out (B,T,*), the probabilities
    (B,H,T,T) query-major, the dropout multiplier or None."""

    __slots__ = ("kernels", "qkv", "out", "probs", "keep", "scale")


def _pooled_forward(qkv, n_head, dropout_p, rng):
    """(out, saved) when kernels_blas takes the call (float32, `fast` on, the probabilities small enough
    to keep), else None."""
    B, T, C3 = qkv.shape
    H, dt = n_head, qkv.dtype
    if (k := blas(qkv)) is None or B * H * T * T * dt.itemsize * (1 + (dropout_p > 0)) > KEEP_BYTES:
        return None
    sv = _Pooled()
    sv.kernels = k  # backward uses the same kernels, whatever the backend by then
    sv.qkv, sv.scale = np.ascontiguousarray(qkv), _scale(C3 // (3 * H), dt)
    sv.out, sv.probs = memory.empty((B, T, C3 // 3), dt), memory.empty((B, H, T, T), dt)
    sv.keep = None
    if dropout_p > 0:  # query-major, unlike attention_core's masks: one draw for the call
        sv.keep = dropout_scale(rng, (B, H, T, T), dt, dropout_p)
    sv.kernels.attention_forward(sv.qkv, H, sv.scale, sv.keep, sv.out, sv.probs)
    return sv.out, sv


def _pooled_backward(sv: _Pooled, g, n_head):
    gqkv = memory.empty(sv.qkv.shape, g.dtype)
    g = np.ascontiguousarray(g)
    sv.kernels.attention_backward(sv.qkv, n_head, sv.scale, sv.keep, sv.out, g, sv.probs, gqkv)
    return gqkv


def heads(a, H):
    """(b, T, H*d) -> (b, H, T, d) strided view (no copy)."""
    b, T, C = a.shape
    return a.reshape(b, T, H, C // H).transpose(0, 2, 1, 3)


def split_heads(qkv, H):
    """(b, T, 3*H*d) -> q, k, v, each a (b, H, T, d) strided view (no copy)."""
    b, T, C3 = qkv.shape
    qkv_heads = qkv.reshape(b, T, 3, H, C3 // (3 * H)).transpose(2, 0, 3, 1, 4)  # (3, b, H, T, d)
    return qkv_heads[0], qkv_heads[1], qkv_heads[2]


def causal_qkv(qkv, n_head, dropout_p, rng):
    """(out, saved): causal self-attention of the fused projection qkv (B, T, 3C) into out (B, T, C), heads split
    and merged as views; on the compiled kernels' thread pool (kernels_blas) when it takes the call, else chunked."""
    if (pooled := _pooled_forward(qkv, n_head, dropout_p, rng)) is not None:
        return pooled
    B, T, C3 = qkv.shape
    q, k, v = split_heads(qkv, n_head)  # each (B, H, T, d)
    out = memory.empty((B, T, C3 // 3), qkv.dtype)
    return out, forward(q, k, v, heads(out, n_head), causal=True, dropout_p=dropout_p, rng=rng)


def cached_qkv(qkv, n_head, k_cache, v_cache, start, *, dropout_p, rng):
    """out (B, T, C): causal self-attention of qkv (B, T, 3C) over the cache's first `start` positions and its own,
    whose keys and values it writes into the caches (B, H, block_size, d) at [start, start + T) (decoding). A
    decoded token goes to kernels_blas when it takes the call: the same arithmetic, ~4 us a layer instead of ~18."""
    B, T, C3 = qkv.shape
    out = memory.empty((B, T, C3 // 3), qkv.dtype)
    if T == 1 and dropout_p == 0 and (kernels := blas(qkv)) is not None:
        scale = _scale(C3 // (3 * n_head), qkv.dtype)
        if kernels.decode_attention(qkv, n_head, scale, k_cache, v_cache, start, out):
            return out
    q, k, v = split_heads(qkv, n_head)  # each (B, H, T, d)
    k_cache[:, :, start : start + T] = k
    v_cache[:, :, start : start + T] = v
    k, v = k_cache[:, :, : start + T], v_cache[:, :, : start + T]  # (B, H, S, d)
    forward(q, k, v, heads(out, n_head), causal=True, dropout_p=dropout_p, rng=rng)
    return out


def causal_qkv_backward(saved, g, n_head):
    """gqkv (B, T, 3C), the gradient of `causal_qkv` for upstream g (B, T, C)."""
    if isinstance(saved, _Pooled):
        return _pooled_backward(saved, g, n_head)
    B, T, C = g.shape
    gqkv = memory.empty((B, T, 3 * C), g.dtype)
    backward(saved, heads(g, n_head), *split_heads(gqkv, n_head))
    return gqkv
