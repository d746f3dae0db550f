"""Dropout's multiplier from PCG64's raw draws (fast/dropout_jit.py) is the textbook draw's, bit for bit, and leaves
the generator where the textbook draw leaves it (its state, buffer included, as a checkpoint stores it)."""

import numpy as np
import pytest

from lmladder.autograd.ops_nn import dropout_mask
from lmladder.fast import kernels

dropout_jit = pytest.importorskip("lmladder.fast.dropout_jit")
F32 = np.dtype(np.float32)


@pytest.mark.parametrize("before", [0, 1, 2, 3])  # words drawn before: an even count leaves none buffered
@pytest.mark.parametrize("shape", [(0,), (1,), (2,), (3,), (5, 7), (32, 64, 128), (3, 4, 9, 9)])
@pytest.mark.parametrize("p", [0.1, 0.5])
def test_the_mask_and_the_state_after_are_the_textbook_draws(before, shape, p):
    textbook, fast = np.random.default_rng(7), np.random.default_rng(7)
    for rng in (textbook, fast):
        rng.random(before, dtype=np.float32)
    np.testing.assert_array_equal(dropout_jit.dropout_scale(fast, shape, p), dropout_mask(textbook, shape, F32, p))
    assert fast.bit_generator.state == textbook.bit_generator.state
    np.testing.assert_array_equal(fast.random(3, dtype=np.float32), textbook.random(3, dtype=np.float32))


@pytest.mark.parametrize("p", [0.1, 0.3, 0.5 + 0.3 * 2.0**-24, 0.9 - 0.7 * 2.0**-24, 1 - 2.0**-24])
def test_the_kernel_compares_as_numpy_compares_float32_uniforms(p):
    """Words whose uniforms (w >> 8) 2^-24 lie on either side of p, where p rounds to float32 (NumPy compares a
    float32 array with a Python float in float32)."""
    k = int(np.float32(p) * 2**24)
    grid = np.arange(k - 3, k + 4, dtype=np.uint32)
    words = np.concatenate([(grid << 8) | low for low in (0, 1, 255)]).astype(np.uint32)
    u = (words >> 8).astype(np.float32) * np.float32(2.0**-24)
    want = (u >= p).astype(np.float32) * np.float32(1 / (1 - p))
    out = np.empty(words.size, np.float32)
    dropout_jit.pick(dropout_jit._SCALE, words.size)(words, np.float32(p), np.float32(1 / (1 - p)), out)
    np.testing.assert_array_equal(out, want)


def test_a_large_mask_from_a_pcg64_is_drawn_raw_and_a_small_one_by_numpy():
    assert kernels.raw_draws(np.random.default_rng(0), (64, 1024), F32)
    assert kernels.raw_draws(np.random.default_rng(0), (32, 16, 16), F32)  # a names GPT's mask (kernels.RAW_DRAWS_FROM)
    assert not kernels.raw_draws(np.random.default_rng(0), (4, 16, 96), F32)
    assert not kernels.raw_draws(np.random.default_rng(0), (64, 1024), np.dtype(np.float64))
    assert not kernels.raw_draws(np.random.Generator(np.random.Philox(0)), (64, 1024), F32)


def test_another_bit_generator_keeps_numpys_draw():
    textbook, fast = (np.random.Generator(np.random.Philox(3)) for _ in range(2))
    shape = (64, 1024)
    np.testing.assert_array_equal(kernels.dropout_scale(fast, shape, F32, 0.2), dropout_mask(textbook, shape, F32, 0.2))
    np.testing.assert_array_equal(fast.random(3), textbook.random(3))


@pytest.mark.parametrize("parts", [1, 2, 3])
def test_the_draws_cut_into_parts_are_the_same_draws(parts, monkeypatch):
    """Each part draws from a copy of the generator jumped ahead to its start: any cut gives the textbook's words
    and leaves the generator where they leave it."""
    monkeypatch.setattr(dropout_jit, "width", lambda: parts)
    monkeypatch.setattr(dropout_jit, "MIN_PART", 10)
    for before in (0, 1):
        textbook, fast = np.random.default_rng(11), np.random.default_rng(11)
        for rng in (textbook, fast):
            rng.random(before, dtype=np.float32)
        got = dropout_jit.dropout_scale(fast, (7, 11), 0.25)
        np.testing.assert_array_equal(got, dropout_mask(textbook, (7, 11), F32, 0.25))
        assert fast.bit_generator.state == textbook.bit_generator.state


@pytest.mark.parametrize("shape", [(3, 5), (32, 64, 128)])
@pytest.mark.parametrize("bitgen", [np.random.PCG64, np.random.Philox])
def test_dropouts_forward_and_backward_are_the_textbooks_bits(shape, bitgen):
    """The forward's one pass (mask and product) and the backward's product on the pool, or NumPy's draw and products
    (another generator, or a small array): the textbook's bits."""
    from lmladder import fast
    from lmladder.autograd import Tensor
    from lmladder.autograd import functional as F

    x = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    g = np.random.default_rng(2).standard_normal(shape).astype(np.float32)

    def run():
        xt = Tensor(x, requires_grad=True)
        y = F.dropout(xt, 0.3, np.random.Generator(bitgen(5)))
        y.backward(g)
        return y.data.copy(), xt.grad

    compiled = run()
    fast.set_backend("numpy")
    try:
        textbook = run()
    finally:
        fast.set_backend("compiled")
    for c, t in zip(compiled, textbook, strict=True):
        np.testing.assert_array_equal(c, t)
