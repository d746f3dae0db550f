"""lmladder.fast's kernels for a forward without a graph (scoring, sampling, loss estimates) against the paths that
keep what backward needs: the causal convolution's compiled forward (with a graph too) is the textbook's bits, the
norms' and activations' outputs are the same bits when they keep nothing, and ModernQKV's one pass is the bits of
its QK-norm and rotary kernels (float32 rounding apart for heads under 16 wide)."""

import numpy as np
import pytest

from lmladder import fast
from lmladder.autograd import Tensor, no_grad
from lmladder.autograd import functional as F

pytest.importorskip("lmladder.fast.modern_jit")
RNG = np.random.default_rng(0)


def _both(fn):
    """(fn() on the compiled kernels, fn() on the numpy backend): fast against the textbook lines."""
    compiled = fn()
    fast.set_backend("numpy")
    try:
        return compiled, fn()
    finally:
        fast.set_backend("compiled")


@pytest.mark.parametrize("B,T,C,K", [(2, 5, 8, 4), (32, 64, 128, 4), (3, 2, 16, 4), (256, 64, 128, 3), (1, 1, 128, 2)])
@pytest.mark.parametrize("before", [False, True])
def test_the_compiled_causal_convolution_is_the_textbooks_bits(B, T, C, K, before):
    """Its output and input gradient are the textbook's bits; the weight's gradient sums the batch rows' partial
    sums (conv_jit.py), NumPy's einsum in its own order: the same to float32 rounding."""
    x, w = RNG.standard_normal((B, T, C), dtype=np.float32), RNG.standard_normal(K * C, dtype=np.float32)
    prev = RNG.standard_normal((B, K - 1, C), dtype=np.float32) if before else None
    g = RNG.standard_normal((B, T, C), dtype=np.float32)

    def run():
        with no_grad():
            plain = F.causal_conv(Tensor(x), Tensor(w), K, prev).data.copy()
        xt, wt = Tensor(x, requires_grad=True), Tensor(w, requires_grad=True)
        y = F.causal_conv(xt, wt, K, prev)
        y.backward(g)
        return plain, y.data.copy(), xt.grad, wt.grad

    compiled, textbook = _both(run)
    for c, t in zip(compiled[:3], textbook[:3], strict=True):
        np.testing.assert_array_equal(c, t)
    np.testing.assert_allclose(compiled[3], textbook[3], rtol=1e-4, atol=1e-5 * np.sqrt(B * T))


@pytest.mark.parametrize("op", ["layer_norm", "rms_norm", "gelu", "relu2"])
@pytest.mark.parametrize("n", [1_000, 200_000])
def test_an_op_that_keeps_nothing_writes_the_same_bits(op, n):
    x = RNG.standard_normal((n // 100, 100), dtype=np.float32)
    w, b = RNG.standard_normal(100, dtype=np.float32), RNG.standard_normal(100, dtype=np.float32)
    apply = {
        "layer_norm": lambda t: F.layer_norm(t, Tensor(w), Tensor(b)),
        "rms_norm": lambda t: F.rms_norm(t, Tensor(w)),
        "gelu": F.gelu,
        "relu2": F.relu2,
    }[op]
    with no_grad():
        kept_nothing = apply(Tensor(x)).data.copy()
    np.testing.assert_array_equal(kept_nothing, apply(Tensor(x, requires_grad=True)).data)


@pytest.mark.parametrize("B,T,H,Hkv,d", [(2, 5, 4, 4, 16), (32, 64, 4, 4, 32), (3, 7, 4, 2, 16), (124, 32, 4, 2, 64)])
@pytest.mark.parametrize("norm,rope,ve,start", [(True, True, True, 0), (False, True, False, 3), (True, False, True, 0)])
def test_modern_qkv_in_one_pass_is_its_kernels_bits(B, T, H, Hkv, d, norm, rope, ve, start):
    qkv = RNG.standard_normal((B, T, (H + 2 * Hkv) * d), dtype=np.float32)
    v = Tensor(RNG.standard_normal((B, T, Hkv * d), dtype=np.float32)) if ve else None
    opts = dict(qk_norm=norm, rope_base=10000.0 if rope else None, start=start)
    with no_grad():
        one_pass = F.modern_qkv(Tensor(qkv), v, H, Hkv, **opts).data.copy()
    np.testing.assert_array_equal(one_pass, F.modern_qkv(Tensor(qkv, requires_grad=True), v, H, Hkv, **opts).data)
    # and the textbook lines' arithmetic, to float32 rounding
    with no_grad():
        textbook = _both(lambda: F.modern_qkv(Tensor(qkv), v, H, Hkv, **opts).data.copy())[1]
    np.testing.assert_allclose(one_pass, textbook, rtol=1e-5, atol=1e-5)


def test_modern_qkv_in_one_pass_keeps_short_heads_within_rounding():
    qkv = RNG.standard_normal((124, 32, 8 * 8), dtype=np.float32)
    v = Tensor(RNG.standard_normal((124, 32, 2 * 8), dtype=np.float32))
    with no_grad():
        one_pass = F.modern_qkv(Tensor(qkv), v, 4, 2, qk_norm=True, rope_base=10000.0).data.copy()
    graph = F.modern_qkv(Tensor(qkv, requires_grad=True), v, 4, 2, qk_norm=True, rope_base=10000.0).data
    np.testing.assert_allclose(one_pass, graph, rtol=1e-6, atol=1e-6)


def test_the_causal_convolutions_backward_gives_the_same_bits_on_any_thread_count():
    from lmladder.fast import conv_jit, share

    g, xp, w = (RNG.standard_normal(s, dtype=np.float32) for s in ((64, 64, 128), (64, 67, 128), (4, 128)))
    runs = []
    for threads in (1, 2):
        share.pin(threads)
        runs.append([a.copy() for a in conv_jit.causal_conv_backward(g, xp, w, True, True)])
    share.pin(None)
    for a, b in zip(*runs, strict=True):
        np.testing.assert_array_equal(a, b)
