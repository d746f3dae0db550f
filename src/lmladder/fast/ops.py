"""`fast`'s side of the seam: what the core's primitives and optimizers call when `fast.kernel(x)` hands
them this module (x a float32 array, LMLADDER_KERNELS=compiled, numba importable).

Each function takes the arrays its primitive's textbook lines take and returns what those lines compute, in the
same shapes, to float32 rounding: compiled kernels (kernels_jit.py, layer_norm_jit.py, modern_jit.py), GEMMs and
attention on the one thread pool (kernels_blas.py), chunked attention (attention.py), pooled and placed memory
(memory.py). So either side can run a primitive's forward and the other its backward.
"""

from __future__ import annotations

import numpy as np

from . import attention, memory
from . import dropout_jit as dj
from . import kernels_jit as jit
from . import layer_norm_jit as lj
from . import modern_jit as mj
from .adam import step as adam_step  # noqa: F401 (nn.Adam's fast step)
from .conv_jit import causal_conv_backward  # noqa: F401 (CausalConv's backward)
from .gradients import PooledGradients as gradients  # noqa: F401 (the engine's gradient sums)
from .kernels import CHUNK, add, dropout_scale, matmul, matmul_pair, raw_draws
from .memory import empty  # noqa: F401 (pooled arrays for a primitive's output)
from .newton_schulz import orthogonalise  # noqa: F401 (Muon's matrices, batched on the cores)

__all__ = ["add", "adam_step", "empty", "gradients", "orthogonalise"]


def linear(x, w, b):
    """x @ w.T + b for x (..., in), w (out, in), b (out,) or None: one GEMM over the rows, split on the pool."""
    x2 = x.reshape(-1, x.shape[-1])  # (..., in) -> (N, in)
    dt = x.dtype if x.dtype == w.dtype else np.result_type(x, w)
    y = matmul(x2, w.T, memory.empty((x2.shape[0], w.shape[0]), dt))  # (N, in) @ (in, out)
    if b is not None:
        y += b
    return y.reshape(*x.shape[:-1], w.shape[0])


def linear_backward(g, x, w, need_x: bool, need_w: bool):
    """(g @ w, g^T x summed over the rows), None where not needed; the two GEMMs side by side, one per core."""
    g2, x2 = g.reshape(-1, g.shape[-1]), x.reshape(-1, x.shape[-1])  # (N, out), (N, in)
    gx = memory.empty((g2.shape[0], w.shape[1]), np.result_type(g, w)) if need_x else None  # (N, out) @ (out, in)
    gw = memory.empty(w.shape, np.result_type(g, x)) if need_w else None  # (out, N) @ (N, in)
    if gx is not None and gw is not None:
        matmul_pair(g2, w, gx, g2.T, x2, gw)
    elif gx is not None:
        matmul(g2, w, gx)
    elif gw is not None:
        matmul(g2.T, x2, gw)
    return (None if gx is None else gx.reshape(x.shape)), gw


def dropout(x, rng, p: float):
    """(x mask, mask): Dropout's forward, the mask drawn as the textbook draws it; one compiled pass where
    kernels.raw_draws says so."""
    if raw_draws(rng, x.shape, x.dtype):
        return dj.dropout(x, rng, p)
    mask = dropout_scale(rng, x.shape, x.dtype, p)
    return np.multiply(x, mask, out=memory.empty(x.shape, x.dtype)), mask


def dropout_backward(g, mask):
    """g mask on the pool, or NumPy's multiply below kernels.CHUNK elements (the same bits)."""
    if g.size >= CHUNK:
        return dj.multiply(g, mask)
    return np.multiply(g, mask, out=memory.empty(g.shape, g.dtype))


def embedding(w, idx):
    """w[idx] into a pooled array (idx already range-checked)."""
    return np.take(w, idx, axis=0, out=memory.empty((*idx.shape, w.shape[1]), w.dtype), mode="clip")


def embedding_backward(idx, g, w_shape):
    """The rows of g summed into their ids' rows of a (V, C) gradient: for a small vocabulary a one-hot GEMM
    (BLAS sums the rows); else, or when g is not finite (0 * inf would reach unused rows), None (the caller's
    scatter-add)."""
    V, C = w_shape
    ids, g2 = idx.reshape(-1), g.reshape(-1, C)  # (N,), (N, C)
    if V > 4096 or V * ids.size > 1 << 24:
        return None
    onehot = memory.zeros((V, ids.size), g.dtype)
    onehot[ids, np.arange(ids.size)] = 1
    with np.errstate(invalid="ignore"):
        gw = onehot @ g2  # (V, N) @ (N, C) -> (V, C)
    return gw if np.isfinite(gw).all() else None


def layer_norm(x, w, b, eps: float, keep: bool = True):
    """(y, xhat, rstd) over the last axis of x: rstd (..., 1) = 1 / sqrt(var + eps), xhat = (x - mean) rstd,
    y = xhat w + b; keep False (no graph): xhat and rstd are not kept (None)."""
    y, xhat, rstd = lj.layer_norm_forward(x.reshape(-1, x.shape[-1]), w, b, eps, keep)
    if not keep:
        return y.reshape(x.shape), None, None
    return y.reshape(x.shape), xhat.reshape(x.shape), rstd.reshape(*x.shape[:-1], 1)


def layer_norm_backward(g, xhat, rstd, w, need_x: bool, need_w: bool, need_b: bool):
    """(gx, gw, gb), None where not needed."""
    g2 = g.reshape(-1, g.shape[-1])  # (N, C)
    gx, gw, gb = lj.layer_norm_backward(g2, xhat.reshape(g2.shape), rstd.reshape(-1), w, need_x, need_w, need_b)
    return (None if gx is None else gx.reshape(g.shape)), gw, gb


def rms_norm(x, w, eps: float, keep: bool = True):
    """(y, xhat, rstd) over the last axis of x: rstd (..., 1) = 1 / sqrt(mean(x^2) + eps), xhat = x rstd,
    y = xhat w; keep False (no graph): xhat and rstd are not kept (None)."""
    y, xhat, rstd = mj.rms_norm_forward(x, w, eps, keep)
    if not keep:
        return y, None, None
    return y, xhat.reshape(x.shape), rstd.reshape(*x.shape[:-1], 1)


def rms_norm_backward(g, xhat, rstd, w, need_x: bool, need_w: bool):
    """(gx, gw), None where not needed."""
    x3 = mj.rows(g)
    return mj.rms_norm_backward(g, xhat.reshape(x3.shape), rstd.reshape(x3.shape[:2]), w, need_x, need_w)


def gelu_tanh(x, keep: bool = True):
    """(y, s): y = x s, s = 0.5 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))); keep False (no graph): s None."""
    return jit.gelu_tanh_forward(x, keep)


def gelu_tanh_backward(x, s, g):
    return jit.gelu_tanh_backward(x, s, g)


def relu2(x, keep: bool = True):
    """(y, r): r = max(x, 0), y = r^2; keep False (no graph): r None."""
    return mj.relu2_forward(x, keep)


def relu2_backward(g, r):
    return mj.relu2_backward(g, r)


def causal_conv(x, w, before, keep: bool = True):
    """(y, xp) of CausalConv: y = x (1 + w[0]) + sum_k w[k] x shifted by k, xp = [before, x] (B, K-1+T, C) for
    backward; before None: zeros; keep False (no graph): xp None."""
    B, T, C = x.shape
    if before is None:
        before = memory.zeros((B, w.shape[0] - 1, C), x.dtype)
    xc, wc, bc = (np.ascontiguousarray(a, dtype=x.dtype) for a in (x, w, before))
    return mj.causal_conv_forward(xc, wc, bc, keep)


def modern_qkv(qkv, ve, heads: tuple[int, int], qk_norm: bool, cos, sin, eps: float, keep: bool):
    """(out (B, T, 3C), norms): ModernQKV's forward in one pass (modern_jit._qkv_fwd), the bits of rms_norm and
    rotate_half (to float32 rounding for short heads); cos, sin (T, 1, d/2) or None; keep (a graph): norms as the
    textbook lines keep them (None without QK-norm or without a graph)."""
    cs = (None, None) if cos is None else (cos[:, 0, :], sin[:, 0, :])
    return mj.modern_qkv_forward(qkv, ve, *cs, heads, qk_norm, eps, keep)


def modern_qkv_backward(grad, norms, heads: tuple[int, int], cos, sin, has_ve: bool):
    """(gqkv, gve or None): ModernQKV's backward in one pass (modern_jit._qkv_bwd)."""
    return mj.modern_qkv_backward(grad, norms, cos, sin, *heads, has_ve)


def attention_qkv(qkv, n_head: int, dropout_p: float, rng, cache):
    """(out (B, T, C), saved): causal self-attention of qkv (B, T, 3C); with cache (k_cache, v_cache, start) the
    new keys and values go into the caches first, and saved is None (no backward)."""
    if cache is None:
        return attention.causal_qkv(qkv, n_head, dropout_p, rng)
    return attention.cached_qkv(qkv, n_head, *cache, dropout_p=dropout_p, rng=rng), None


def attention_qkv_backward(saved, g, n_head: int):
    return attention.causal_qkv_backward(saved, g, n_head)


def attention_heads(q, k, v, causal: bool, dropout_p: float, rng):
    """(out (B, H, T, d), saved): softmax(q k^T / sqrt(d) [+ causal mask]) [* dropout] v, in L2-sized chunks."""
    out = memory.empty(q.shape, q.dtype)
    return out, attention.forward(q, k, v, out, causal=causal, dropout_p=dropout_p, rng=rng)


def attention_heads_backward(saved, g, needs):
    """(gq, gk, gv), None where not needed."""
    gq, gk, gv = (memory.empty_like(a) if n else None for a, n in zip((saved.q, saved.k, saved.v), needs, strict=True))
    attention.backward(saved, g, gq, gk, gv)
    return gq, gk, gv
