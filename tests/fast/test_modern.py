"""The modern transformer's compiled kernels (fast/modern_jit.py, through fast/ops.py) against the textbook lines
of their primitives: RMS norm on strided head views, rotary turns, ReLU^2; the same bits at any thread count; NaN
in -> NaN out."""

import numpy as np
import pytest

from lmladder.autograd import functional as F
from lmladder.autograd.ops_nn import rms_norm, rms_norm_backward
from lmladder.autograd.ops_transformer import rotary_tables, rotate_half
from lmladder.fast import kernel, share

from .twins import both, randn, through

jit = pytest.importorskip("lmladder.fast.modern_jit")


def qk_view(B=16, T=128, H=4, d=32):
    """The query columns of a fused (B, T, 3C) projection as (B, T, H, d): a strided view, as QK-norm reads it."""
    qkv = randn(B, T, 3 * H * d, scale=2)
    return qkv[:, :, : H * d].reshape(B, T, H, d)


def test_fast_takes_float32_arrays_and_no_other():
    assert kernel(np.zeros(3, np.float32)) is not None
    assert kernel(np.zeros(3, np.float64)) is None  # gradchecks run the textbook lines


@pytest.mark.parametrize("make", [qk_view, lambda: randn(9000, 128), lambda: randn(5)])  # heads, rows, one vector
@pytest.mark.parametrize("need_w", [True, False])
def test_rms_norm_matches_the_textbook(make, need_w):
    x = make()
    w = randn(x.shape[-1], seed=3) + 1
    g = randn(*x.shape, seed=1)
    ref, new = both(through, F.rms_norm, [x, w], g, [True, need_w])
    assert len(ref) == len(new) == 2 + need_w
    for n, r in zip(new, ref, strict=True):
        np.testing.assert_allclose(n, r, rtol=1e-4, atol=1e-4 * np.abs(r).max())


def test_fasts_rms_norm_keeps_the_textbooks_shapes():
    """Each side may run the other's backward: fast returns xhat and rstd as the textbook lines do."""
    x, w = qk_view(B=2, T=3), randn(32, seed=3)
    ops = kernel(x)
    for a, b in zip(rms_norm(x, w, 1e-5), ops.rms_norm(x, w, 1e-5), strict=True):
        assert a.shape == b.shape
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)
    _, xhat, rstd = rms_norm(x, w, 1e-5)
    for a, b in zip(
        rms_norm_backward(x, xhat, rstd, w, True, True),
        ops.rms_norm_backward(x, xhat, rstd, w, True, True),
        strict=True,
    ):
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("start,T", [(0, 128), (37, 1)])  # a training window; one decoded token at position 37
def test_rotation_turns_and_backward_turns_back(start, T):
    x = qk_view(B=3, T=T)
    cos, sin = (a[start:, None, :] for a in rotary_tables(start + T, x.shape[-1], 10000.0, "<f4"))
    new = rotate_half(x, cos, sin)
    assert not np.allclose(new, x)
    back = rotate_half(new, cos, -sin)
    np.testing.assert_allclose(back, x, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("shape", [(7,), (16, 128, 512), (1 << 21,)])  # tiny, the 30-minute model's MLP, threaded
def test_relu2_matches_the_textbook_exactly(shape):
    x, g = randn(*shape, scale=2), randn(*shape, seed=1)
    ref, new = both(through, F.relu2, [x], g)
    for n, r in zip(new, ref, strict=True):
        np.testing.assert_array_equal(n, r)  # max, one product: no rounding freedom


def test_the_threaded_loops_give_the_same_bits_at_any_thread_count():
    x = randn(1 << 21, scale=2)
    w = x[:128] + 1
    runs = []
    for threads in (1, 2, 1):
        share.pin(threads)  # numba's one pool
        y, h, r = jit.rms_norm_forward(x.reshape(-1, 4, 128), w, 1e-5)
        out = [y, *jit.rms_norm_backward(x.reshape(-1, 4, 128), h, r, w, True, True)]
        y2, r2 = jit.relu2_forward(x)
        cos, sin = x[: 128 * 16].reshape(128, 16), x[-128 * 16 :].reshape(128, 16)
        qkv, _ = jit.modern_qkv_forward(x.reshape(64, 128, 256), None, cos, sin, (4, 2), True, 1e-5)
        out += [y2, jit.relu2_backward(x, r2), qkv]
        runs.append([a.copy() for a in out])
    share.pin(None)
    for later in runs[1:]:
        for a, b in zip(runs[0], later, strict=True):
            np.testing.assert_array_equal(a, b)


def test_nan_goes_in_nan_comes_out():
    x = randn(4, 2, 32)
    x[1, 0, 3] = np.nan
    y, _, _ = jit.rms_norm_forward(x, np.ones(32, np.float32), 1e-5)
    assert np.isnan(y[1, 0]).all() and np.isfinite(np.delete(y.reshape(-1, 32), 2, axis=0)).all()  # that row only
    y2, _ = jit.relu2_forward(x.reshape(-1))
    assert np.isnan(y2[(1 * 2 + 0) * 32 + 3]) or y2[(1 * 2 + 0) * 32 + 3] == 0  # max(nan, 0) is either, as NumPy's


@pytest.mark.parametrize("H,Hkv,d", [(4, 4, 32), (4, 2, 16), (3, 1, 8)])
@pytest.mark.parametrize("norm,rope,ve", [(True, True, True), (False, True, False), (True, False, True), (False,) * 3])
def test_modern_qkv_in_one_pass_matches_the_textbook_forward_and_backward(H, Hkv, d, norm, rope, ve):
    """ModernQKV with a graph runs one compiled pass each way (modern_jit._qkv_fwd, _qkv_bwd): its output and the
    gradients of qkv and of the value embeddings are the textbook lines' to float32 rounding."""
    B, T = 5, 24
    qkv, g = randn(B, T, (H + 2 * Hkv) * d, scale=2), randn(B, T, 3 * H * d, seed=1)
    opts = dict(qk_norm=norm, rope_base=10000.0 if rope else None, start=3)
    arrays = [qkv, randn(B, T, Hkv * d, seed=2)] if ve else [qkv]

    def op(x, v=None):
        return F.modern_qkv(x, v, H, Hkv, **opts)

    ref, new = both(through, op, arrays, g)
    assert len(ref) == len(new) == 2 + ve
    for n, r in zip(new, ref, strict=True):
        np.testing.assert_allclose(n, r, rtol=1e-5, atol=1e-5 * np.abs(r).max())


def test_modern_qkv_backward_takes_the_textbooks_norms_and_any_thread_count():
    """Either side may run the other's backward, and the one-pass backward gives the same bits on 1 or 2 threads."""
    B, T, H, Hkv, d = 64, 32, 4, 2, 32
    qkv, g = randn(B, T, (H + 2 * Hkv) * d), randn(B, T, 3 * H * d, seed=1)
    cos, sin = (a[:, None, :] for a in rotary_tables(T, d, 10000.0, "<f4"))
    _, norms = jit.modern_qkv_forward(qkv, None, cos[:, 0], sin[:, 0], (H, Hkv), True, 1e-5, keep=True)
    q, k = qkv[..., : H * d].reshape(B, T, H, d), qkv[..., H * d : (H + Hkv) * d].reshape(B, T, Hkv, d)
    (_, qh, qr), (_, kh, kr) = rms_norm(q, np.ones(d, np.float32), 1e-5), rms_norm(k, np.ones(d, np.float32), 1e-5)
    for a, b in zip(norms[1:], (qh, qr, kh, kr), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)
    runs = []
    for threads in (1, 2):
        share.pin(threads)
        runs.append(jit.modern_qkv_backward(g, (None, qh, qr, kh, kr), cos, sin, H, Hkv, True))
    share.pin(None)
    for a, b in zip(*runs, strict=True):
        np.testing.assert_array_equal(a, b)
