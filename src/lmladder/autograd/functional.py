"""Neural-net functions. Public names use the fused primitives; `*_composite` twins are built from plain
primitives only (no backward code) and exist to prove the fused ones right (tests/autograd/test_fused.py).

The wrappers the layers call test `isinstance(x, Tensor)` inline instead of calling as_tensor for a tensor: a
decoded token runs through dozens of them, and a Python call costs about what a small op's arithmetic does."""

from __future__ import annotations

import math

import numpy as np

from . import ops_attention as A
from . import ops_elementwise as E
from . import ops_nn as N
from . import ops_norm as BN
from . import ops_recurrent as C
from . import ops_reduce as R
from . import ops_shape as S
from . import ops_transformer as X
from .engine import AutogradError, Tensor
from .ops_elementwise import as_tensor


# ---------------------------------------------------------------------- fused (used by the models)
def softmax(x, axis: int = -1) -> Tensor:
    return N.Softmax.apply(as_tensor(x), axis=axis)


def log_softmax(x, axis: int = -1) -> Tensor:
    return N.LogSoftmax.apply(as_tensor(x), axis=axis)


def cross_entropy(logits, targets, ignore_index: int = -100, reduction: str = "mean") -> Tensor:
    """Mean NLL of `targets` (integer array, shape logits.shape[:-1]) under softmax(logits)."""
    targets = targets.data if isinstance(targets, Tensor) else targets
    return N.CrossEntropy.apply(as_tensor(logits), as_tensor(targets), ignore_index=ignore_index, reduction=reduction)


def gelu(x, approximate: str = "tanh") -> Tensor:
    if approximate == "tanh":
        return N.GeluTanh.apply(x if isinstance(x, Tensor) else as_tensor(x))
    if approximate == "none":
        return N.GeluErf.apply(x if isinstance(x, Tensor) else as_tensor(x))
    raise AutogradError(f"gelu: approximate={approximate!r}; use 'tanh' or 'none' (exact erf)")


def layer_norm(x, weight=None, bias=None, eps: float = 1e-5) -> Tensor:
    x = x if isinstance(x, Tensor) else as_tensor(x)
    wb = () if weight is None else (weight,)
    if bias is not None:
        wb += (bias,)
    return N.LayerNorm.apply(x, *wb, eps=eps, has_weight=weight is not None)


def rms_norm(x, weight, eps: float = 1e-5) -> Tensor:
    return N.RMSNorm.apply(as_tensor(x), weight, eps=eps)


def batch_norm(x, weight, bias, running=None, *, training=True, momentum=0.1, eps=1e-5, mask=None) -> Tensor:
    """Batch normalisation over every axis of x but the last. Training: the statistics of the rows where `mask`
    (broadcast to x.shape[:-1]; None: every row) is True, and `running` = (mean, var) arrays, if given, updated in
    place (PyTorch's momentum rule). Evaluation: the running statistics."""
    if not training and running is None:
        raise AutogradError("batch_norm: evaluation needs running_mean and running_var; pass them or training=True")
    x = x if isinstance(x, Tensor) else as_tensor(x)
    return BN.BatchNorm.apply(
        x, weight, bias, training=training, running=running, momentum=momentum, eps=eps, mask=mask
    )


def causal_mean(x, axis: int = -2) -> Tensor:
    """Position t of `axis` -> the mean of positions 0..t (makemore's causal bag of words): a running sum / counts."""
    x = as_tensor(x)
    n = x.shape[axis]
    counts = np.arange(1, n + 1, dtype=x.dtype).reshape((n,) + (1,) * (x.ndim - 1 - axis % x.ndim))  # broadcasts
    return R.cumsum(x, axis=axis) / counts


def linear(x, weight, bias=None) -> Tensor:
    x = x if isinstance(x, Tensor) else as_tensor(x)
    return N.Linear.apply(x, weight) if bias is None else N.Linear.apply(x, weight, bias)


def embedding(idx, weight) -> Tensor:
    idx = idx.data if isinstance(idx, Tensor) else idx
    return N.Embedding.apply(weight, idx=idx)


def dropout(x, p: float, rng: np.random.Generator, training: bool = True) -> Tensor:
    """Inverted dropout; the identity when p == 0 or not training."""
    if not training or p == 0:
        return as_tensor(x)
    if rng is None:
        raise AutogradError("dropout: p > 0 needs rng=np.random.Generator (the model's seeded generator)")
    return N.Dropout.apply(as_tensor(x), p=p, rng=rng)


def scaled_dot_product_attention(q, k, v, causal: bool = True, dropout_p: float = 0.0, rng=None) -> Tensor:
    return A.Attention.apply(q, k, v, causal=causal, dropout_p=dropout_p, rng=rng)


def causal_self_attention(qkv, n_head: int, dropout_p: float = 0.0, rng=None, cache=None) -> Tensor:
    """Causal multi-head attention on a fused projection qkv (B, T, 3C) -> (B, T, C) (heads split and merged
    inside). `cache=(k_cache, v_cache, start)` appends this step's keys/values for KV-cached decoding."""
    qkv = qkv if isinstance(qkv, Tensor) else as_tensor(qkv)
    return A.AttentionQKV.apply(qkv, n_head=n_head, dropout_p=dropout_p, rng=rng, cache=cache)


def modern_qkv(qkv, ve, n_head: int, n_kv_head: int, *, qk_norm=False, rope_base=None, start: int = 0) -> Tensor:
    """c_attn's (B, T, (H + 2 H_kv) d) -> (B, T, 3C) for causal_self_attention: v + ve (ve None: none), QK-norm,
    rotary positions from `start` (rope_base None: none), key/value heads repeated n_head // n_kv_head times."""
    inputs = (qkv,) if ve is None else (qkv, ve)
    kw = dict(n_head=n_head, n_kv_head=n_kv_head, qk_norm=qk_norm, rope_base=rope_base, start=start)
    return X.ModernQKV.apply(*inputs, **kw)


def value_residual(qkv, v1, lam) -> Tensor:
    """(B, T, 3C) queries, keys and values with v + lam (v1 - v) for the first layer's values v1 (B, T, C)."""
    return X.ValueResidual.apply(qkv, v1, lam)


def causal_conv(x, w, kernel: int, before=None) -> Tensor:
    """x + the causal depthwise convolution of x (B, T, C) by w (kernel * C values); before: (B, kernel-1, C)."""
    return X.CausalConv.apply(as_tensor(x), w, before=before, kernel=kernel)


def relu2(x) -> Tensor:
    return X.ReluSquared.apply(x if isinstance(x, Tensor) else as_tensor(x))


def softcap(x, cap: float) -> Tensor:
    """cap * tanh(x / cap): logits pass unchanged near 0 and never exceed +-cap (Gemma 2; modded-nanogpt)."""
    return (x * (1.0 / cap)).tanh() * cap


def rnn_cell(xg, h, w_hh, b_hh) -> Tensor:
    """One Elman step: tanh(xg + h @ w_hh.T + b_hh), xg = x @ w_ih.T + b_ih precomputed (torch.nn.RNN)."""
    return C.RNNCell.apply(*map(as_tensor, (xg, h, w_hh, b_hh)))


def gru_cell(xg, h, w_hh, b_hh) -> Tensor:
    """One GRU step (torch.nn.GRU's equations, gates r, z, n): xg (B, 3H), h (B or 1, H) -> h' (B, H)."""
    return C.GRUCell.apply(*map(as_tensor, (xg, h, w_hh, b_hh)))


def lstm_cell(xg, s, w_hh, b_hh) -> Tensor:
    """One LSTM step (torch.nn.LSTM's gates i, f, g, o): xg (B, 4H), s = [h, c] (B or 1, 2H) -> [h', c'] (B, 2H)."""
    return C.LSTMCell.apply(*map(as_tensor, (xg, s, w_hh, b_hh)))


# ---------------------------------------------------------------------- composites (reference twins)
def softmax_composite(x, axis: int = -1) -> Tensor:
    x = as_tensor(x)
    e = E.exp(x - R.max(x, axis=axis, keepdims=True).detach())  # the shift cancels, so it needs no gradient
    return e / R.sum(e, axis=axis, keepdims=True)


def log_softmax_composite(x, axis: int = -1) -> Tensor:
    x = as_tensor(x)
    shifted = x - R.max(x, axis=axis, keepdims=True).detach()
    return shifted - E.log(R.sum(E.exp(shifted), axis=axis, keepdims=True))


def cross_entropy_composite(logits, targets, ignore_index: int = -100, reduction: str = "mean") -> Tensor:
    logits = as_tensor(logits)
    t = np.asarray(targets.data if isinstance(targets, Tensor) else targets).reshape(-1)
    V = logits.shape[-1]
    logp = log_softmax_composite(S.reshape(logits, -1, V))  # (N, V)
    valid = t != ignore_index
    picked = S.getitem(logp, (np.arange(t.size), np.where(valid, t, 0)))  # (N,)
    nll = -(picked * valid.astype(logits.dtype))
    if reduction == "none":
        return S.reshape(nll, *np.shape(targets))
    total = R.sum(nll)
    return total if reduction == "sum" else total / max(int(valid.sum()), 1)


def gelu_tanh_composite(x) -> Tensor:
    x = as_tensor(x)
    return 0.5 * x * (1 + E.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))


def gelu_erf_composite(x) -> Tensor:
    x = as_tensor(x)
    return 0.5 * x * (1 + E.erf(x * (1 / math.sqrt(2))))


def layer_norm_composite(x, weight=None, bias=None, eps: float = 1e-5) -> Tensor:
    x = as_tensor(x)
    xc = x - R.mean(x, axis=-1, keepdims=True)
    y = xc * (R.mean(xc * xc, axis=-1, keepdims=True) + eps) ** -0.5
    if weight is not None:
        y = y * weight
    return y + bias if bias is not None else y


def batch_norm_composite(x, weight, bias, eps: float = 1e-5, mask=None) -> Tensor:
    """Training-mode batch norm from primitives: the statistics of the masked rows (the boolean index selects them)."""
    x = as_tensor(x)
    rows = S.reshape(x, -1, x.shape[-1])  # (N, C)
    if mask is not None:
        rows = S.getitem(rows, np.broadcast_to(mask, x.shape[:-1]).reshape(-1))  # (n, C)
    mean = R.mean(rows, axis=0)
    var = R.mean((rows - mean) ** 2, axis=0)
    return (x - mean) * (var + eps) ** -0.5 * weight + bias


def rms_norm_composite(x, weight, eps: float = 1e-5) -> Tensor:
    x = as_tensor(x)
    return x * (R.mean(x * x, axis=-1, keepdims=True) + eps) ** -0.5 * weight


def linear_composite(x, weight, bias=None) -> Tensor:
    y = R.matmul(as_tensor(x), S.transpose(weight))
    return y + bias if bias is not None else y


def embedding_composite(idx, weight) -> Tensor:
    return S.getitem(weight, idx.data if isinstance(idx, Tensor) else idx)


def mean_composite(x, axis=None, keepdims: bool = False) -> Tensor:
    x = as_tensor(x)
    n = x.size if axis is None else int(np.prod([x.shape[a] for a in np.atleast_1d(axis)]))
    return R.sum(x, axis=axis, keepdims=keepdims) / n


def attention_composite(q, k, v, causal: bool = True) -> Tensor:
    T, S_ = q.shape[-2], k.shape[-2]
    att = R.matmul(q, S.transpose(k)) * (1 / math.sqrt(q.shape[-1]))  # (B,H,T,d) @ (B,H,d,S)
    if causal:
        att = S.masked_fill(att, A.causal_mask(T, S_), -np.inf)
    return R.matmul(softmax_composite(att), v)  # (B,H,T,S) @ (B,H,S,d)


def causal_self_attention_composite(qkv, n_head: int) -> Tensor:
    B, T, C3 = qkv.shape
    heads = S.permute(S.reshape(qkv, B, T, 3, n_head, C3 // (3 * n_head)), 2, 0, 3, 1, 4)  # (3, B, H, T, d)
    y = attention_composite(S.getitem(heads, 0), S.getitem(heads, 1), S.getitem(heads, 2))  # (B, H, T, d)
    return S.reshape(S.permute(y, 0, 2, 1, 3), B, T, C3 // 3)  # (B, H, T, d) -> (B, T, H, d) -> (B, T, C)


def _cols(x, k: int, H: int) -> Tensor:
    """Gate k of a (B, G) gate array: columns k*H .. (k+1)*H."""
    return S.getitem(x, (slice(None), slice(k * H, (k + 1) * H)))


def rnn_cell_composite(xg, h, w_hh, b_hh) -> Tensor:
    return E.tanh(xg + R.matmul(h, S.transpose(w_hh)) + b_hh)


def gru_cell_composite(xg, h, w_hh, b_hh) -> Tensor:
    H = w_hh.shape[1]
    hg = R.matmul(h, S.transpose(w_hh)) + b_hh  # (B, 3H)
    r = E.sigmoid(_cols(xg, 0, H) + _cols(hg, 0, H))
    z = E.sigmoid(_cols(xg, 1, H) + _cols(hg, 1, H))
    n = E.tanh(_cols(xg, 2, H) + r * _cols(hg, 2, H))
    return (1 - z) * n + z * h


def lstm_cell_composite(xg, s, w_hh, b_hh) -> Tensor:
    H = w_hh.shape[1]
    h, c = _cols(s, 0, H), _cols(s, 1, H)
    a = xg + R.matmul(h, S.transpose(w_hh)) + b_hh  # (B, 4H)
    i, f, g, o = (_cols(a, k, H) for k in range(4))
    c2 = E.sigmoid(f) * c + E.sigmoid(i) * E.tanh(g)
    return S.concat([E.sigmoid(o) * E.tanh(c2), c2], axis=-1)
