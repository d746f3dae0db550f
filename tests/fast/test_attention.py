"""The attention call's layout (fast/attention.py): the causal bias it adds to the scores."""

import numpy as np
import pytest

from lmladder.fast import attention


@pytest.mark.parametrize("T,S", [(5, 5), (1, 7), (3, 8)])
def test_causal_bias_is_c_ordered_and_masks_the_future(T, S):
    """Key-major (S, T), 0 where query t sees key s <= t + S - T, -inf after; C order, because a Fortran-ordered
    bias added to C-ordered scores is walked with a stride of S elements (10x slower at T=256)."""
    bias = attention._causal_bias(T, S, "<f4")
    assert bias.shape == (S, T) and bias.dtype == np.float32 and bias.flags.c_contiguous
    s, t = np.indices((S, T))
    np.testing.assert_array_equal(bias, np.where(s > t + S - T, -np.inf, 0))


@pytest.mark.parametrize("B,H,d,start", [(1, 4, 32, 0), (1, 4, 32, 1), (1, 4, 32, 30), (2, 2, 16, 63), (3, 6, 12, 7)])
def test_a_decoded_token_gets_the_bits_of_the_chunked_forward(B, H, d, start):
    """cached_qkv's one-token kernel (kernels_blas.decode_attention: the sgemv calls NumPy's matmul makes, the same
    softmax kernel) gives the bits of `forward` on the cache, and writes the same keys and values."""
    rng = np.random.default_rng(start + 10 * B)
    qkv = (rng.standard_normal((B, 1, 3 * H * d)) * 4).astype(np.float32)
    kc = rng.standard_normal((B, H, 64, d)).astype(np.float32)
    vc = rng.standard_normal((B, H, 64, d)).astype(np.float32)
    kc_ref, vc_ref = kc.copy(), vc.copy()
    out = attention.cached_qkv(qkv, H, kc, vc, start, dropout_p=0.0, rng=None)
    q, k, v = attention.split_heads(qkv, H)
    kc_ref[:, :, start : start + 1], vc_ref[:, :, start : start + 1] = k, v
    ref = np.empty_like(out)
    k, v = kc_ref[:, :, : start + 1], vc_ref[:, :, : start + 1]
    attention.forward(q, k, v, attention.heads(ref, H), causal=True, dropout_p=0.0, rng=None)
    np.testing.assert_array_equal(out, ref)
    np.testing.assert_array_equal(kc, kc_ref)
    np.testing.assert_array_equal(vc, vc_ref)


def test_the_decode_kernel_takes_a_decoded_token_and_declines_what_it_cannot_take():
    kernels = pytest.importorskip("lmladder.fast.kernels_blas")
    qkv, out = np.ones((1, 1, 12), np.float32), np.empty((1, 1, 4), np.float32)
    kc, vc = np.zeros((1, 2, 8, 2), np.float32), np.zeros((1, 2, 8, 2), np.float32)
    scale = np.float32(0.5)
    assert kernels.decode_attention(qkv, 2, scale, kc, vc, 3, out)
    assert not kernels.decode_attention(qkv, 2, scale, kc, vc, 0, out)  # the first key: NumPy's matmul takes a dot
    assert not kernels.decode_attention(qkv, 2, scale, kc, vc, 8, out)  # past the cache
    assert not kernels.decode_attention(qkv, 2, scale, kc[:, :, :, :1], vc, 3, out)  # another head size
    assert not kernels.decode_attention(qkv.astype(np.float64), 2, scale, kc, vc, 3, out)
    assert not kernels.decode_attention(
        qkv, 2, scale, kc.transpose(0, 1, 3, 2).copy().transpose(0, 1, 3, 2), vc, 3, out
    )
