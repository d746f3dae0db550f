"""The compiled kernels (kernels_jit.py) against the textbook lines of their primitives (the numpy backend), and the
rules they promise: the same bits at any thread count, NaN in -> NaN out, outputs placed off their inputs' page
offsets, the backend switch."""

import os
import subprocess
import sys

import numpy as np
import pytest

from lmladder.autograd import functional as F
from lmladder.errors import LmladderError
from lmladder.fast import attention, memory, share, switch
from lmladder.fast import kernels as K

from .twins import both, randn, through

jit = pytest.importorskip("lmladder.fast.kernels_jit")
lj = pytest.importorskip("lmladder.fast.layer_norm_jit")


def test_the_compiled_backend_is_in_use_for_float32_only():
    assert K.compiled(np.zeros(3, np.float32)) is jit
    assert K.compiled(np.zeros(3, np.float64)) is None  # gradchecks keep NumPy's exact functions
    assert K.compiled(np.zeros(3, np.float16)) is None


def test_tanh_fit_is_float32_accurate_and_saturates_exactly():
    x = np.linspace(-20, 20, 400_001).astype(np.float32)
    y, s = jit.gelu_tanh_forward(x)  # s = 0.5 (1 + tanh(u)): recover tanh(u)
    u = np.sqrt(2 / np.pi) * (x.astype(np.float64) + 0.044715 * x.astype(np.float64) ** 3)
    assert np.abs((2 * s.astype(np.float64) - 1) - np.tanh(u)).max() < 1e-6
    assert np.all(s[u > 8.7] == 1) and np.all(s[u < -8.7] == 0)  # so GELU' is exactly 1 / 0 far out


@pytest.mark.parametrize("shape", [(7,), (3, 5, 33), (12, 64, 512), (1 << 20,)])  # tiny, odd, nanoGPT, threaded
def test_gelu_tanh_matches_the_textbook(shape):
    x, g = randn(*shape, scale=3), randn(*shape, seed=1)
    (y, gx), (y2, gx2) = both(through, F.gelu, [x], g)
    np.testing.assert_allclose(y2, y, rtol=2e-6, atol=2e-6)
    # each side's backward uses its own gate s (fast's tanh is a rational fit, within 3.8e-7), times x^3 terms
    np.testing.assert_allclose(gx2, gx, rtol=1e-5, atol=5e-5)


@pytest.mark.parametrize("shape", [(7,), (12, 64, 128), (1 << 20,)])  # tiny, nanoGPT's residual, threaded
def test_add_is_numpys_sum_bit_for_bit(shape):
    a, b = randn(*shape), randn(*shape, seed=1)
    np.testing.assert_array_equal(jit.add(a, b), a + b)
    np.testing.assert_array_equal(jit.add(a[..., ::-1], b), a[..., ::-1] + b)  # a strided input is copied first


@pytest.mark.parametrize("weight,bias", [(True, True), (True, False), (False, True), (False, False)])
@pytest.mark.parametrize("rows", [5, 768, 9000])  # 9000 x 128 > SERIAL_BELOW: the threaded loop
def test_layer_norm_matches_the_textbook(weight, bias, rows):
    C = 128
    x, g = randn(2, rows, C, scale=2) + 1, randn(2, rows, C, seed=1)
    wb = [randn(C, seed=2)] * weight + [randn(C, seed=3)] * bias

    def norm(x, *wb):
        return F.layer_norm(x, wb[0] if weight else None, wb[-1] if bias else None)

    for needs in [None, [False] + [True] * len(wb), [True] + [False] * len(wb)]:
        if needs is not None and not any(needs):
            continue
        ref, new = both(through, norm, [x, *wb], g, needs)
        assert len(ref) == len(new) == 1 + sum(needs or [1] * (1 + len(wb)))
        for r, n in zip(ref, new, strict=True):
            np.testing.assert_allclose(n, r, rtol=1e-4, atol=1e-4 * np.abs(r).max())


@pytest.mark.parametrize("kernel", ["gelu", "layer_norm", "adam"])
def test_the_threaded_loops_give_the_same_bits_at_any_thread_count(kernel):
    x = randn(1 << 20, scale=2)
    runs = []
    for threads in (1, 2, 1):
        share.pin(threads)
        if kernel == "gelu":
            y, s = jit.gelu_tanh_forward(x)
            out = [y, s, jit.gelu_tanh_backward(x, s, x)]
        elif kernel == "layer_norm":
            y, h, r = lj.layer_norm_forward(x.reshape(-1, 256), x[:256], x[256:512], 1e-5)
            out = [y, *lj.layer_norm_backward(y, h, r, x[:256], True, True, True)]
        else:
            m, v, w = np.zeros_like(x), np.zeros_like(x), x[::-1].copy()
            jit.adam(x, m, v, w, jit.adam_scalars(0.9, 0.99, 1e-8, 1e-3, np.float32(0.999)))
            out = [m, v, w]
        runs.append([a.copy() for a in out])
    share.pin(None)
    for later in runs[1:]:
        for a, b in zip(runs[0], later, strict=True):
            np.testing.assert_array_equal(a, b)


_TWINS_AGREE = """
import sys
import numpy as np
from lmladder.fast import kernels_jit as jit, layer_norm_jit as lj, modern_jit as mj
def randn(*shape, seed): return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
for C in (32, 96, 128, 384):
    x, g, w, b = randn(300, C, seed=1), randn(300, C, seed=4), randn(C, seed=2), randn(C, seed=3)
    runs = []
    for jit.SERIAL_BELOW in (1 << 40, 2):
        y, h, r = lj.layer_norm_forward(x, w, b, 1e-5)
        gy, s = jit.gelu_tanh_forward(x)
        out = [y, h, r, *lj.layer_norm_backward(g, h, r, w, True, True, True), gy, s, jit.gelu_tanh_backward(x, s, g)]
        out.append(lj.layer_norm_backward(g, h, r, None, True, False, False)[0])
        y, h, r = mj.rms_norm_forward(x.reshape(300, 1, C), w, 1e-5)
        out += [y, h, r, *mj.rms_norm_backward(g.reshape(300, 1, C), h, r, w, True, True), *mj.relu2_forward(x)]
        out.append(mj.relu2_backward(g, out[-1]))
        cos, sin = np.cos(x[:60, : C // 8]), np.sin(x[:60, : C // 8])  # ModernQKV's one pass: 4 heads of C / 4
        out.append(mj.modern_qkv_forward(x.reshape(5, 60, C), None, cos, sin, (2, 1), True, 1e-5)[0])
        runs.append([a.copy() for a in out])
    for i, (a, b) in enumerate(zip(*runs)):
        assert np.array_equal(a, b), f"C={C}: output {i} of the serial and threaded twins differs"
    np.savez(f"{sys.argv[1]}_{C}.npz", *runs[0])
"""


@pytest.mark.slow  # compiles every kernel from nothing in a fresh cache (~30 s of one core)
def test_the_serial_and_threaded_twins_give_the_same_bits_compiled_or_cached(tmp_path):
    """A call runs the serial twin below SERIAL_BELOW elements, else the threaded one, so the two must agree, as
    numba compiles them and as it loads them from its cache: loaded from the cache, layer norm's backward once
    summed its rows in another order than just compiled (layer_norm_jit._layer_norm_bwd_rows); compiled apart, GELU's
    backward twins differed on a Zen 3 (kernels_jit.elementwise). Cold cache, then warm: the same bits in both."""
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "numba")}
    for run in ("cold", "warm"):
        subprocess.run([sys.executable, "-c", _TWINS_AGREE, str(tmp_path / run)], env=env, check=True, timeout=600)
    for C in (32, 96, 128, 384):
        cold, warm = np.load(tmp_path / f"cold_{C}.npz"), np.load(tmp_path / f"warm_{C}.npz")
        for k in cold.files:
            assert np.array_equal(cold[k], warm[k]), f"C={C}: output {k} differs compiled and loaded from the cache"


def test_the_threaded_twin_is_compiled_threaded_even_when_the_serial_one_is_cached(tmp_path):
    """numba's cache keys a function by name and signature, not by parallel=: twins of one function once loaded
    each other's code, so the threaded loops ran on one thread. Fresh cache, serial twin first, then the other."""
    code = (
        "import numpy as np; from lmladder.fast import kernels_jit as kj\n"
        "x = np.ones(8, np.float32); y, s = np.empty_like(x), np.empty_like(x)\n"
        "for f in kj._GELU_FWD: f(x, y, s)\n"
        "serial, threaded = (f.overloads[f.signatures[0]].library.get_llvm_str() for f in kj._GELU_FWD)\n"
        "assert 'do_scheduling' not in serial and 'do_scheduling' in threaded, 'the threaded twin has no parfor'\n"
    )
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path)}
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=300)


def test_nan_goes_in_nan_comes_out():
    x = randn(4, 64)
    x[1, 3] = np.nan
    y, s = jit.gelu_tanh_forward(x)
    assert np.isnan(y[1, 3]) and np.isfinite(np.delete(y.ravel(), 67)).all()
    y, h, r = lj.layer_norm_forward(x, None, None, 1e-5)
    assert np.isnan(y[1]).all() and np.isfinite(y[[0, 2, 3]]).all()  # the row with the NaN, and only it


@pytest.mark.parametrize("skew", [2048, 3072])
def test_outputs_are_placed_off_their_inputs_page_offset(skew):
    x = randn(12, 64, 512)
    y = memory.placed(x, skew)
    assert y.shape == x.shape and y.dtype == x.dtype and y.flags.c_contiguous
    assert (y.ctypes.data - x.ctypes.data) % memory.PAGE == skew
    assert not np.shares_memory(x, y)


def test_a_bad_backend_is_refused_with_its_fix(monkeypatch):
    with pytest.raises(LmladderError, match=r"kernel backend 'fast' is unknown; use compiled \(the default\) or numpy"):
        switch.set_backend("fast")
    monkeypatch.setattr(switch, "_backend", None)
    monkeypatch.setenv("LMLADDER_KERNELS", "fast")
    with pytest.raises(LmladderError, match=r"LMLADDER_KERNELS='fast' is not a kernel backend; set it to compiled"):
        K.compiled(np.zeros(3, np.float32))
    monkeypatch.setenv("LMLADDER_KERNELS", "numpy")
    assert K.compiled(np.zeros(3, np.float32)) is None
    monkeypatch.setattr(switch, "_backend", "compiled")


def test_exp_of_non_positive_numbers_is_float32_accurate():
    import numba

    @numba.njit
    def exp_all(x, out):
        for i in range(x.size):
            out[i] = jit.exp_neg(x[i])

    x = np.concatenate([np.linspace(-100, 0, 200_001), [-np.inf, -87.5, -0.0]]).astype(np.float32)
    y = np.empty_like(x)
    exp_all(x, y)
    ok = x >= -87
    np.testing.assert_allclose(y[ok], np.exp(x[ok].astype(np.float64)), rtol=4e-7)
    assert np.all(y[~ok] == 0) and y[-1] == 1


@pytest.mark.parametrize("B,H,T,S", [(12, 4, 64, 64), (2, 3, 1, 9), (1, 2, 5, 5)])  # nanoGPT, a decoded token, tiny
def test_attention_softmax_matches_the_reference(B, H, T, S):
    q, k, v = randn(B, H, T, 32, scale=2), randn(B, H, S, 32, seed=1, scale=2), randn(B, H, S, 32, seed=2)
    g = randn(B, H, T, 32, seed=3)

    def attend():
        out = np.empty_like(q)
        sv = attention.forward(q, k, v, out, causal=True, dropout_p=0.0, rng=None)
        grads = [np.empty_like(a) for a in (q, k, v)]
        attention.backward(sv, g, *grads)
        return out, sv.probs, sv.lse, *grads

    ref, new = both(attend)
    for r, n in zip(ref, new, strict=True):
        np.testing.assert_allclose(n, r, rtol=2e-5, atol=2e-6 * np.abs(r).max())
    masked = np.triu(np.ones((T, S), bool), k=S - T + 1).T  # key-major: key j above query t's own position
    assert np.all(new[1][..., masked] == 0)


@pytest.mark.parametrize("n", [100, 300_000])
def test_dropout_under_fast_is_the_textbooks_bits(n):
    """Dropout under `fast` draws the textbook's mask and multiplies into pooled arrays: the same
    output and gradient bits as the textbook lines."""
    from lmladder.autograd import Tensor

    x, g = randn(n), randn(n, seed=1)
    runs = []
    for name in ("compiled", "numpy"):
        switch.set_backend(name)
        try:
            t = Tensor(x, requires_grad=True)
            y = F.dropout(t, 0.1, np.random.default_rng(7))
            y.backward(g)
            runs.append((y.data.copy(), t.grad.copy()))
        finally:
            switch.set_backend("compiled")
    for a, b in zip(*runs, strict=True):
        np.testing.assert_array_equal(a, b)
