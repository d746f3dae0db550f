"""GEMMs and attention on the compiled kernels' thread pool (kernels_blas.py) against NumPy and attention_core.py:
the same numbers to float32 rounding, the same bits at 1 and 2 threads, dropout, NaN, and the fallback when
NumPy's BLAS is not the OpenBLAS of its wheels."""

import numpy as np
import pytest

from lmladder.autograd import ops_attention as A
from lmladder.fast import attention as fast_attention
from lmladder.fast import kernels as K
from lmladder.fast import share, switch

jit = pytest.importorskip("lmladder.fast.kernels_jit")
blas = pytest.importorskip("lmladder.fast.kernels_blas")


def randn(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


@pytest.fixture
def two_threads():
    share.pin(2)
    yield
    share.pin(None)


@pytest.mark.parametrize("layout", ["nn", "nt", "tn"])  # Linear's forward x w^T, backward g w and g^T x
def test_split_gemm_matches_numpy(layout, two_threads):
    a = randn(300, 70) if layout != "tn" else randn(70, 300).T
    b = randn(70, 50) if layout != "nt" else randn(50, 70).T
    out = np.empty((300, 50), np.float32)
    assert blas.matmul(a, b, out, K.SPLIT_ROWS)  # 300 rows: split in two
    exact = a.astype(np.float64) @ b.astype(np.float64)
    np.testing.assert_allclose(out, exact, rtol=1e-5, atol=1e-4)
    again = np.empty_like(out)
    blas.matmul(a, b, again, K.SPLIT_ROWS)
    np.testing.assert_array_equal(out, again)


def test_small_or_odd_gemms_are_left_to_numpy(two_threads):
    a, b = randn(100, 8), randn(8, 4)
    assert not blas.matmul(a, b, np.empty((100, 4), np.float32), K.SPLIT_ROWS)  # < 2 chunks of SPLIT_ROWS rows
    out = K.matmul(a[::2], b, np.empty((50, 4), np.float32))  # a strided view: NumPy's matmul
    np.testing.assert_allclose(out, a[::2] @ b, rtol=1e-6)
    big = randn(256, 8)
    assert not blas.matmul(big, randn(9, 4), np.empty((256, 4), np.float32), K.SPLIT_ROWS)  # shapes that do not chain
    with pytest.raises(ValueError, match="mismatch"):  # NumPy names it; no read past an array
        K.matmul(big, randn(9, 4), np.empty((256, 4), np.float32))


@pytest.mark.parametrize("M, K_, N", [(1024, 32, 27), (500, 96, 27), (768, 128, 384)])
def test_a_gemm_gives_the_same_bits_at_one_and_two_threads(M, K_, N):
    """At one thread the rows go in the chunks two threads would take: OpenBLAS computes some row counts with other
    kernels (with its Haswell kernels, a 1024 x 32 x 27 product's bits changed with the rows per call)."""
    a, b = randn(M, K_, seed=1), randn(K_, N, seed=2)
    runs = []
    for threads in (1, 2):
        share.pin(threads)
        runs.append(K.matmul(a, b, np.empty((M, N), np.float32)).copy())
    share.pin(None)
    np.testing.assert_array_equal(*runs)


@pytest.mark.parametrize("N, out, inp", [(768, 384, 128), (1024, 27, 32), (300, 65, 128), (100, 64, 8)])
def test_a_linear_backwards_pair_gives_the_bits_of_two_gemms_at_one_and_two_threads(N, out, inp):
    """Linear's backward runs gx = g w and gw = g^T x side by side (matmul_pair), each in the row chunks `matmul`
    would use: the same bits as two matmul calls, at any thread count; a product too small to split (65 or 100
    rows) sends both to `matmul`."""
    g, w, x = randn(N, out, seed=1), randn(out, inp, seed=2), randn(N, inp, seed=3)
    expect = K.matmul(g, w, np.empty((N, inp), np.float32)), K.matmul(g.T, x, np.empty((out, inp), np.float32))
    splits = out >= 2 * K.SPLIT_ROWS and N >= 2 * K.SPLIT_ROWS
    for threads in (1, 2):
        share.pin(threads)
        gx, gw = np.empty((N, inp), np.float32), np.empty((out, inp), np.float32)
        assert blas.matmul_pair(g, w, gx, g.T, x, gw, K.SPLIT_ROWS) == splits
        K.matmul_pair(g, w, gx, g.T, x, gw)
        np.testing.assert_array_equal(gx, expect[0])
        np.testing.assert_array_equal(gw, expect[1])
    share.pin(None)


def attention(backend, qkv, g, H, dropout_p=0.0, seed=0):
    switch.set_backend(backend)
    try:
        f = A.AttentionQKV()
        out = f.forward(qkv, H, dropout_p=dropout_p, rng=np.random.default_rng(seed)).copy()
        return out, f.backward(g)[0].copy(), f.saved
    finally:
        switch.set_backend("compiled")


@pytest.mark.parametrize("B, H, T, d", [(12, 4, 64, 32), (2, 3, 17, 8), (1, 1, 1, 4)])
def test_attention_matches_attention_core(B, H, T, d):
    qkv, g = randn(B, T, 3 * H * d, seed=1), randn(B, T, H * d, seed=2)
    out, gq, saved = attention("compiled", qkv, g, H)
    ref_out, ref_g, ref_saved = attention("numpy", qkv, g, H)
    assert isinstance(saved, fast_attention._Pooled) and not isinstance(ref_saved, fast_attention._Pooled)
    np.testing.assert_allclose(out, ref_out, atol=2e-6, rtol=1e-5)
    np.testing.assert_allclose(gq, ref_g, atol=1e-5, rtol=1e-4)
    probs = saved.probs
    assert np.all(probs[..., np.triu_indices(T, 1)[0], np.triu_indices(T, 1)[1]] == 0)  # masked: exactly 0
    np.testing.assert_allclose(probs.sum(-1), 1, rtol=1e-5)


def test_attention_gives_the_same_bits_at_one_and_two_threads():
    qkv, g = randn(4, 40, 3 * 64, seed=3), randn(4, 40, 64, seed=4)
    runs = []
    for threads in (1, 2):
        share.pin(threads)
        runs.append(attention("compiled", qkv, g, 4, dropout_p=0.1)[:2])
    share.pin(None)
    for a, b in zip(*runs, strict=True):
        np.testing.assert_array_equal(a, b)


def test_attention_dropout_against_a_float64_reference():
    B, H, T, d = 2, 2, 9, 4
    qkv, g = randn(B, T, 3 * H * d, seed=5), randn(B, T, H * d, seed=6)
    out, gqkv, saved = attention("compiled", qkv, g, H, dropout_p=0.3)
    keep = saved.keep.astype(np.float64)  # (B,H,T,T) query-major multiplier: 0 or 1 / (1 - p)
    assert set(np.unique(keep)) == {0.0, float(np.float32(1 / 0.7))}
    x = qkv.astype(np.float64).reshape(B, T, 3, H, d).transpose(2, 0, 3, 1, 4)  # (3, B, H, T, d)
    q, k, v = x[0], x[1], x[2]
    s = q @ k.swapaxes(-1, -2) / np.sqrt(d) + np.triu(np.full((T, T), -np.inf), 1)
    p = np.exp(s - s.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    o = (p * keep) @ v  # (B,H,T,d)
    np.testing.assert_allclose(out, o.transpose(0, 2, 1, 3).reshape(B, T, H * d), atol=1e-5)
    go = g.astype(np.float64).reshape(B, T, H, d).transpose(0, 2, 1, 3)
    dp = go @ v.swapaxes(-1, -2) * keep
    ds = p * (dp - (dp * p).sum(-1, keepdims=True))
    grads = np.stack([ds @ k / np.sqrt(d), ds.swapaxes(-1, -2) @ q / np.sqrt(d), (p * keep).swapaxes(-1, -2) @ go])
    np.testing.assert_allclose(gqkv, grads.transpose(1, 3, 0, 2, 4).reshape(B, T, 3 * H * d), atol=1e-5)


def test_a_nan_score_makes_its_query_nan_and_no_other():
    qkv, g = randn(1, 8, 3 * 8, seed=7), randn(1, 8, 8, seed=8)
    qkv[0, 5, 0] = np.nan  # query 5 of head 0 (q's first column)
    out, _, _ = attention("compiled", qkv, g, 2)
    assert np.isnan(out[0, 5, :4]).all()
    assert np.isfinite(np.delete(out[0, :, :4], 5, axis=0)).all() and np.isfinite(out[0, :, 4:]).all()


def test_another_blas_is_refused_at_import(monkeypatch):
    from lmladder.fast import gemm_library

    monkeypatch.setattr(gemm_library, "OPENBLAS_SYMBOL", "not_a_blas_symbol")
    with pytest.raises(ImportError, match="not_a_blas_symbol"):
        gemm_library.openblas()


def test_openblas_is_held_to_one_thread_while_the_pool_splits_gemms(two_threads):
    from threadpoolctl import threadpool_info

    blas.matmul(randn(256, 16), randn(16, 16), np.empty((256, 16), np.float32), K.SPLIT_ROWS)
    ours = [p for p in threadpool_info() if p.get("filepath") == blas.LIBRARY]
    assert ours and all(p["num_threads"] == 1 for p in ours)


def test_a_decoded_tokens_small_products_keep_openblas_on_one_thread():
    """A fresh process with 2 BLAS threads: after one batch-1 product through K.matmul, NumPy's OpenBLAS runs on
    the calling thread only (its worker, woken for every GEMV of a decoded token, stalls on a shared machine)."""
    import os
    import subprocess
    import sys

    code = (
        "import numpy as np\n"
        "from threadpoolctl import threadpool_info\n"
        "from lmladder.fast import kernels as K\n"
        "from lmladder.fast.kernels_blas import LIBRARY\n"
        "pool = lambda: next(p for p in threadpool_info() if p['filepath'] == LIBRARY)['num_threads']\n"
        "before = pool()\n"
        "x, w = np.ones((1, 128), np.float32), np.ones((128, 384), np.float32)\n"
        "K.matmul(x, w, np.empty((1, 384), np.float32))\n"
        "print(before, pool())\n"
    )
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "2", "OMP_NUM_THREADS": "2", "NUMBA_NUM_THREADS": "2"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["2", "1"]
