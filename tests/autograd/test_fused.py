"""Each fused primitive equals its composite twin, forward and backward, in float64 and float32."""

import numpy as np
import pytest

from lmladder.autograd import Tensor
from lmladder.autograd import functional as F
from lmladder.autograd.ops_elementwise import erf_array
from lmladder.fast import attention, kernels, switch

rng = np.random.default_rng(0)
T_ = np.array([[0, 3, 1], [2, 2, -100]])  # (2, 3) targets with one ignored position
BN_MASK = T_ != -100  # batch statistics from the rows that carry a target


def r(*s):
    return rng.standard_normal(s)


PAIRS = [
    ("softmax", F.softmax, F.softmax_composite, [r(2, 3, 5)]),
    ("log_softmax", F.log_softmax, F.log_softmax_composite, [r(4, 6)]),
    ("cross_entropy mean", lambda a: F.cross_entropy(a, T_), lambda a: F.cross_entropy_composite(a, T_), [r(2, 3, 4)]),
    (
        "cross_entropy sum",
        lambda a: F.cross_entropy(a, T_, reduction="sum"),
        lambda a: F.cross_entropy_composite(a, T_, reduction="sum"),
        [r(2, 3, 4)],
    ),
    (
        "cross_entropy none",
        lambda a: F.cross_entropy(a, T_, reduction="none"),
        lambda a: F.cross_entropy_composite(a, T_, reduction="none"),
        [r(2, 3, 4)],
    ),
    ("gelu tanh", lambda a: F.gelu(a, "tanh"), F.gelu_tanh_composite, [3 * r(5, 7)]),
    ("gelu erf", lambda a: F.gelu(a, "none"), F.gelu_erf_composite, [3 * r(5, 7)]),
    ("layer_norm", F.layer_norm, F.layer_norm_composite, [r(2, 3, 8), r(8), r(8)]),
    ("rms_norm", F.rms_norm, F.rms_norm_composite, [r(2, 3, 8), r(8)]),
    ("batch_norm", F.batch_norm, F.batch_norm_composite, [r(2, 3, 8), r(8), r(8)]),
    (
        "batch_norm masked",
        lambda x, w, b: F.batch_norm(x, w, b, mask=BN_MASK),
        lambda x, w, b: F.batch_norm_composite(x, w, b, mask=BN_MASK),
        [r(2, 3, 8), r(8), r(8)],
    ),
    ("linear", F.linear, F.linear_composite, [r(2, 3, 4), r(5, 4), r(5)]),
    (
        "embedding",
        lambda w: F.embedding(np.array([[1, 1], [0, 3]]), w),
        lambda w: F.embedding_composite(np.array([[1, 1], [0, 3]]), w),
        [r(4, 3)],
    ),
    ("mean", lambda a: a.mean(axis=(0, 2)), lambda a: F.mean_composite(a, axis=(0, 2)), [r(2, 3, 4)]),
    ("attention", F.scaled_dot_product_attention, F.attention_composite, [r(2, 3, 5, 4), r(2, 3, 5, 4), r(2, 3, 5, 4)]),
    (  # scores ~1000 apart: shifting by a query's own score overflows exp, so the exact-max path must take over
        "attention far-apart scores",
        F.scaled_dot_product_attention,
        F.attention_composite,
        [30 * r(2, 3, 5, 4), 30 * r(2, 3, 5, 4), r(2, 3, 5, 4)],
    ),
    (  # more queries than keys: no query has an "own" key to shift by
        "attention fewer keys than queries",
        lambda q, k, v: F.scaled_dot_product_attention(q, k, v, causal=False),
        lambda q, k, v: F.attention_composite(q, k, v, causal=False),
        [r(2, 3, 5, 4), r(2, 3, 3, 4), r(2, 3, 3, 4)],
    ),
    ("rnn_cell", F.rnn_cell, F.rnn_cell_composite, [r(3, 4), r(3, 4), r(4, 4), r(4)]),
    ("rnn_cell start", F.rnn_cell, F.rnn_cell_composite, [r(3, 4), r(1, 4), r(4, 4), r(4)]),
    ("gru_cell", F.gru_cell, F.gru_cell_composite, [r(3, 15), r(3, 5), r(15, 5), r(15)]),
    ("gru_cell start", F.gru_cell, F.gru_cell_composite, [r(3, 15), r(1, 5), r(15, 5), r(15)]),
    ("lstm_cell", F.lstm_cell, F.lstm_cell_composite, [r(3, 20), r(3, 10), r(20, 5), r(20)]),
    ("lstm_cell start", F.lstm_cell, F.lstm_cell_composite, [r(3, 20), r(1, 10), r(20, 5), r(20)]),
    (
        "causal_self_attention",
        lambda x: F.causal_self_attention(x, 3),
        lambda x: F.causal_self_attention_composite(x, 3),
        [r(2, 5, 18)],
    ),
]


def _run(fn, arrays, dtype, u):
    ts = [Tensor(a.astype(dtype), requires_grad=True) for a in arrays]
    out = fn(*ts)
    out.backward(u.astype(dtype))
    return out.data, [t.grad for t in ts]


@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-10), (np.float32, 2e-5)])
@pytest.mark.parametrize("name,fused,composite,arrays", PAIRS, ids=[p[0] for p in PAIRS])
def test_fused_equals_composite(name, fused, composite, arrays, dtype, tol):
    probe = fused(*[Tensor(a) for a in arrays])
    u = np.random.default_rng(1).standard_normal(probe.shape)
    out_f, grads_f = _run(fused, arrays, dtype, u)
    out_c, grads_c = _run(composite, arrays, dtype, u)
    assert out_f.dtype == dtype
    np.testing.assert_allclose(out_f, out_c, rtol=tol, atol=tol, err_msg=f"{name} forward")
    for i, (gf, gc) in enumerate(zip(grads_f, grads_c, strict=True)):
        np.testing.assert_allclose(gf, gc, rtol=tol, atol=tol, err_msg=f"{name} grad of input {i}")


@pytest.mark.parametrize("tile", [64, 2], ids=["one tile", "causal tiles"])
@pytest.mark.parametrize("keep_probs", [True, False], ids=["keep", "recompute"])
@pytest.mark.parametrize("name,fused,composite,arrays", PAIRS, ids=[p[0] for p in PAIRS])
def test_fused_equals_composite_across_many_chunks(name, fused, composite, arrays, keep_probs, tile, monkeypatch):
    """Tiny chunk and tile sizes push lmladder.fast's kernels (float32) through their multi-chunk / multi-tile
    paths; attention either keeps its probabilities for backward or recomputes them from the log-sum-exp."""
    monkeypatch.setattr(kernels, "CHUNK", 7)
    monkeypatch.setattr(attention, "CHUNK_BYTES", 64)
    monkeypatch.setattr(attention, "TILE", tile)
    monkeypatch.setattr(attention, "KEEP_BYTES", 1 << 30 if keep_probs else 0)
    test_fused_equals_composite(name, fused, composite, arrays, np.float32, 2e-5)


@pytest.mark.parametrize("tile", [64, 2])
@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-12), (np.float32, 1e-6)], ids=["textbook", "fast"])
def test_attention_qkv_cache_matches_full_forward(tile, dtype, tol, monkeypatch):
    monkeypatch.setattr(attention, "TILE", tile)  # the 4-token prompt splits into tiles over a longer cache
    qkv = r(2, 6, 12).astype(dtype)
    full = F.causal_self_attention(Tensor(qkv), 2).data
    kc, vc = np.zeros((2, 2, 8, 2), dtype), np.zeros((2, 2, 8, 2), dtype)
    first = F.causal_self_attention(Tensor(qkv[:, :4]), 2, cache=(kc, vc, 0)).data  # a 4-token prompt
    steps = [F.causal_self_attention(Tensor(qkv[:, t : t + 1]), 2, cache=(kc, vc, t)).data for t in (4, 5)]
    np.testing.assert_allclose(np.concatenate([first, *steps], axis=1), full, rtol=tol, atol=tol)


def test_attention_dropout_is_seeded_and_chunks_draw_the_same_masks(monkeypatch):
    qkv = Tensor(r(2, 4, 12).astype(np.float32))
    monkeypatch.setattr(attention, "KEEP_BYTES", 0)  # fast's chunked path: it draws one mask per chunk
    a = F.causal_self_attention(qkv, 2, 0.5, np.random.default_rng(9)).data
    b = F.causal_self_attention(qkv, 2, 0.5, np.random.default_rng(9)).data
    np.testing.assert_array_equal(a, b)
    monkeypatch.setattr(attention, "CHUNK_BYTES", 64)  # one (batch, head) per chunk: same stream order
    np.testing.assert_allclose(F.causal_self_attention(qkv, 2, 0.5, np.random.default_rng(9)).data, a, rtol=1e-6)


def test_the_textbook_and_the_pooled_attention_draw_the_same_dropout_masks():
    """Query-major, one draw per call: the numpy backend's model trains with the compiled one's masks."""
    qkv = r(2, 4, 12).astype(np.float32)
    pooled = F.causal_self_attention(Tensor(qkv), 2, 0.5, np.random.default_rng(9)).data
    switch.set_backend("numpy")
    try:
        textbook = F.causal_self_attention(Tensor(qkv), 2, 0.5, np.random.default_rng(9)).data
    finally:
        switch.set_backend("compiled")
    np.testing.assert_allclose(pooled, textbook, rtol=1e-5, atol=1e-6)


def test_attention_dropout_runs_in_float16():
    """float16 checkpoints load (checkpoints.py allows them) and a GPT in training mode applies attention
    dropout; Generator.random draws only float32/float64 (found by the training-checkpoint fuzzer)."""
    qkv = Tensor(r(2, 4, 12).astype(np.float16), requires_grad=True)
    out = F.causal_self_attention(qkv, 2, 0.5, np.random.default_rng(9))
    out.backward(np.ones(out.shape, np.float16))
    assert out.dtype == np.float16 and qkv.grad.dtype == np.float16 and np.isfinite(qkv.grad).all()


@pytest.mark.parametrize("tile", [64, 2])
@pytest.mark.parametrize("keep_bytes", [1 << 30, 0], ids=["keep", "recompute"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["textbook", "fast"])
def test_attention_dropout_backward_matches_composite_with_the_same_mask(keep_bytes, tile, dtype, monkeypatch):
    """With dropout, every backward path equals the composite with the op's own mask applied."""
    monkeypatch.setattr(attention, "KEEP_BYTES", keep_bytes)
    monkeypatch.setattr(attention, "TILE", tile)
    monkeypatch.setattr(attention, "CHUNK_BYTES", 64)
    q, k, v = r(1, 2, 4, 3), r(1, 2, 4, 3), r(1, 2, 4, 3)
    u = r(1, 2, 4, 3)
    ts = [Tensor(a.astype(dtype), requires_grad=True) for a in (q, k, v)]
    y = F.scaled_dot_product_attention(*ts, dropout_p=0.4, rng=np.random.default_rng(2))
    saved = y._node.saved
    if dtype == np.float64:
        keep = saved[4]  # the textbook's (B, H, T, S) mask
    else:
        keep = np.concatenate(saved.keeps, axis=1).swapaxes(-1, -2)  # key-major chunks -> (B, H, T, S)
    y.backward(u.astype(dtype))
    tol = 1e-10 if dtype == np.float64 else 2e-5
    tc = [Tensor(a, requires_grad=True) for a in (q, k, v)]
    att = F.softmax_composite(
        F.R.matmul(tc[0], F.S.transpose(tc[1])) * (1 / np.sqrt(3)) + np.where(F.A.causal_mask(4, 4), -np.inf, 0.0)
    )
    yc = F.R.matmul(att * keep, tc[2])
    yc.backward(u)
    np.testing.assert_allclose(y.data, yc.data, rtol=tol, atol=tol)
    for a, b in zip(ts, tc, strict=True):
        np.testing.assert_allclose(a.grad, b.grad, rtol=tol, atol=tol)


def test_float32_erf_is_within_float32_rounding_of_libm():
    x = np.linspace(-6, 6, 20001).astype(np.float32).astype(np.float64)  # inputs exactly representable
    exact = erf_array(x)
    approx = erf_array(x.astype(np.float32)).astype(np.float64)
    assert np.max(np.abs(exact - approx)) < 3e-7


def test_softmax_and_cross_entropy_survive_huge_logits():
    logits = np.array([[1000.0, -1000.0, 0.0]], dtype=np.float32)
    assert np.isfinite(F.softmax(Tensor(logits)).data).all()
    x = Tensor(logits, requires_grad=True)
    loss = F.cross_entropy(x, np.array([1]))
    loss.backward()
    assert np.isclose(loss.item(), 2000.0) and np.isfinite(x.grad).all()


def test_cross_entropy_bad_target_names_the_op():
    from lmladder.autograd import AutogradError

    with pytest.raises(AutogradError, match=r"CrossEntropy: target 7 outside \[0, 3\)"):
        F.cross_entropy(Tensor(np.zeros((2, 3))), np.array([0, 7]))


def test_embedding_backward_keeps_unused_rows_zero_when_a_gradient_is_not_finite():
    """The one-hot GEMM would spread 0 * inf = nan to every row; the op falls back to the exact scatter."""
    w = Tensor(np.zeros((4, 2), dtype=np.float32), requires_grad=True)
    out = F.embedding(np.array([1, 3, 1]), w)
    out.backward(np.array([[1, 2], [np.inf, 0], [3, 4]], dtype=np.float32))
    assert w.grad[[0, 2]].tolist() == [[0, 0], [0, 0]]
    assert w.grad[1].tolist() == [4, 6] and w.grad[3, 0] == np.inf
