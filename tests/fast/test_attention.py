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


@pytest.mark.parametrize("B,H,d,start", [(1, 4, 32, 0), (1, 4, 32, 30), (2, 2, 16, 63), (3, 1, 8, 7)])
def test_a_decoded_token_gets_the_bits_of_the_chunked_forward(B, H, d, start):
    """cached_qkv's one-token path (no chunks or tiles) makes the calls of `forward`'s one tile: the same bits."""
    rng = np.random.default_rng(start)
    qkv = rng.standard_normal((B, 1, 3 * H * d)).astype(np.float32)
    kc = rng.standard_normal((B, H, 64, d)).astype(np.float32)
    vc = rng.standard_normal((B, H, 64, d)).astype(np.float32)
    out = attention.cached_qkv(qkv, H, kc, vc, start, dropout_p=0.0, rng=None)
    q = attention.split_heads(qkv, H)[0]
    ref = np.empty_like(out)
    k, v = kc[:, :, : start + 1], vc[:, :, : start + 1]  # the keys and values cached_qkv wrote
    attention.forward(q, k, v, attention.heads(ref, H), causal=True, dropout_p=0.0, rng=None)
    np.testing.assert_array_equal(out, ref)
