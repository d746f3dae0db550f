"""Each fused primitive equals its composite twin, forward and backward, in float64 and float32."""

import numpy as np
import pytest

from lmladder.autograd import Tensor
from lmladder.autograd import functional as F
from lmladder.autograd.ops_elementwise import erf_np

rng = np.random.default_rng(0)
T_ = np.array([[0, 3, 1], [2, 2, -100]])  # (2, 3) targets with one ignored position


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
    ("linear", F.linear, F.linear_composite, [r(2, 3, 4), r(5, 4), r(5)]),
    (
        "embedding",
        lambda w: F.embedding(np.array([[1, 1], [0, 3]]), w),
        lambda w: F.embedding_composite(np.array([[1, 1], [0, 3]]), w),
        [r(4, 3)],
    ),
    ("mean", lambda a: a.mean(axis=(0, 2)), lambda a: F.mean_composite(a, axis=(0, 2)), [r(2, 3, 4)]),
    ("attention", F.scaled_dot_product_attention, F.attention_composite, [r(2, 3, 5, 4), r(2, 3, 5, 4), r(2, 3, 5, 4)]),
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


def test_float32_erf_is_within_float32_rounding_of_libm():
    x = np.linspace(-6, 6, 20001).astype(np.float32).astype(np.float64)  # inputs exactly representable
    exact = erf_np(x)
    approx = erf_np(x.astype(np.float32)).astype(np.float64)
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
