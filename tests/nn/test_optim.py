"""Optimizers against plain reference formulas, clipping, schedules, and two sanity trainings."""

import math

import numpy as np
import pytest

from lmladder import nn
from lmladder.autograd import Tensor
from lmladder.autograd import functional as F


def _param(values):
    return nn.Parameter(np.array(values, dtype=np.float64))


def _ref_adam(w, grads, lr, b1, b2, eps, wd, decoupled):
    m = np.zeros_like(w)
    v = np.zeros_like(w)
    for t, g in enumerate(grads, start=1):
        if decoupled:
            w = w * (1 - lr * wd)
        else:
            g = g + wd * w
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        mhat, vhat = m / (1 - b1**t), v / (1 - b2**t)
        w = w - lr * mhat / (np.sqrt(vhat) + eps)
    return w


@pytest.mark.parametrize("cls,decoupled", [(nn.Adam, False), (nn.AdamW, True)])
def test_adam_and_adamw_match_reference(cls, decoupled):
    r = np.random.default_rng(0)
    w0 = r.standard_normal(5)
    grads = [r.standard_normal(5) for _ in range(7)]
    p = _param(w0)
    opt = cls([p], lr=0.01, betas=(0.9, 0.99), eps=1e-8, weight_decay=0.1)
    for g in grads:
        p.grad = g.copy()
        opt.step()
    np.testing.assert_allclose(p.data, _ref_adam(w0, grads, 0.01, 0.9, 0.99, 1e-8, 0.1, decoupled), rtol=1e-12)


@pytest.mark.parametrize("cls,decoupled", [(nn.Adam, False), (nn.AdamW, True)])
def test_update_matches_reference_per_parameter_and_group(cls, decoupled):
    """Several parameters of several shapes in two groups (decay / no decay), each with its group's options."""
    r = np.random.default_rng(3)
    w0 = [r.standard_normal(s) for s in ((3, 4), (4,), (2, 2, 2), (1,))]
    ps = [_param(w) for w in w0]
    groups = [
        {"params": [ps[0], ps[2]], "weight_decay": 0.1},
        {"params": [ps[1], ps[3]], "weight_decay": 0.0, "lr": 0.02},
    ]
    opt = cls(groups, lr=0.01, betas=(0.9, 0.99), eps=1e-8)
    grads = [[r.standard_normal(w.shape) for w in w0] for _ in range(5)]
    for gs in grads:
        for p, g in zip(ps, gs, strict=True):
            p.grad = g.copy()
        opt.step()
        for p, g in zip(ps, gs, strict=True):
            np.testing.assert_array_equal(p.grad, g)  # the update never writes into a gradient
    for i, (lr, wd) in enumerate([(0.01, 0.1), (0.02, 0.0), (0.01, 0.1), (0.02, 0.0)]):
        ref = _ref_adam(w0[i], [gs[i] for gs in grads], lr, 0.9, 0.99, 1e-8, wd, decoupled)
        np.testing.assert_allclose(ps[i].data, ref, rtol=1e-12, err_msg=f"parameter {i}")
    assert opt.state["exp_avg"][1].shape == (2, 2, 2)  # per-parameter views (group order: ps[0], ps[2], ...)


def test_parameter_without_grad_is_left_alone():
    a, b = _param([1.0, 2.0]), _param([3.0])
    opt = nn.AdamW([a, b], lr=0.1, weight_decay=0.5)
    a.grad = np.array([0.5, -0.5])
    opt.step()  # b has no gradient: neither decayed nor moved, and its moments stay zero
    assert b.data.tolist() == [3.0] and opt.state["exp_avg"][1].tolist() == [0.0]
    np.testing.assert_allclose(a.data, _ref_adam(np.array([1.0, 2.0]), [a.grad], 0.1, 0.9, 0.999, 1e-8, 0.5, True))


def test_mixed_dtypes_update_alike():
    a, b = _param([1.0]), nn.Parameter(np.array([1.0], dtype=np.float32))
    opt = nn.AdamW([a, b], lr=0.1)
    a.grad, b.grad = np.array([1.0]), np.array([1.0], dtype=np.float32)
    opt.step()
    assert opt.state["exp_avg"][1].dtype == np.float32 and a.data[0] == pytest.approx(b.data[0], rel=1e-6)


def test_sgd_momentum_matches_reference():
    p = _param([1.0, -2.0])
    opt = nn.SGD([p], lr=0.1, momentum=0.9)
    w, buf = np.array([1.0, -2.0]), np.zeros(2)
    for g in ([1.0, 1.0], [0.5, -1.0], [2.0, 0.0]):
        p.grad = np.array(g)
        opt.step()
        buf = 0.9 * buf + np.array(g)
        w = w - 0.1 * buf
    np.testing.assert_allclose(p.data, w)


def test_param_groups_exclude_biases_and_norms_from_decay():
    lin, norm = nn.Linear(3, 3, rng=np.random.default_rng(0)), nn.LayerNorm(3)
    named = [*lin.named_parameters(prefix="lin"), *norm.named_parameters(prefix="norm")]
    groups = nn.decay_groups(named, 0.1)
    assert [p.ndim for p in groups[0]["params"]] == [2] and groups[0]["weight_decay"] == 0.1
    assert all(p.ndim == 1 for p in groups[1]["params"]) and groups[1]["weight_decay"] == 0.0
    opt = nn.AdamW(groups, lr=1.0)
    for p in opt.params:
        p.grad = np.zeros_like(p.data)
    bias_before = lin.bias.data.copy()
    w_before = lin.weight.data.copy()
    opt.step()
    np.testing.assert_array_equal(lin.bias.data, bias_before)  # zero grad, no decay: unchanged
    np.testing.assert_allclose(lin.weight.data, w_before * (1 - 0.1), rtol=1e-6)


def test_optimizer_state_dict_roundtrip_continues_identically():
    def run(split):
        r = np.random.default_rng(1)
        p = _param(r.standard_normal(4))
        opt = nn.AdamW([p], lr=0.1)
        grads = [r.standard_normal(4) for _ in range(6)]
        for i, g in enumerate(grads):
            if i == split:
                sd = opt.state_dict()
                sd = {
                    "step": sd["step"],
                    "hyper": sd["hyper"],
                    "buffers": {k: [a.copy() for a in v] for k, v in sd["buffers"].items()},
                }
                w = p.data.copy()
                p = _param(w)
                opt = nn.AdamW([p], lr=0.1)
                opt.load_state_dict(sd)
            p.grad = g
            opt.step()
        return p.data

    np.testing.assert_array_equal(run(split=-1), run(split=3))


def test_bad_learning_rate_and_unknown_option_are_refused():
    with pytest.raises(ValueError, match="learning rate must be a positive number, got 0"):
        nn.AdamW([_param([1.0])], lr=0)
    with pytest.raises(ValueError, match=r"unknown options \['momentum'\]"):
        nn.Adam([_param([1.0])], momentum=0.9)


def test_clip_grad_norm_returns_preclip_norm_and_scales():
    a, b = _param([0.0, 0.0]), _param([0.0])
    a.grad, b.grad = np.array([3.0, 0.0]), np.array([4.0])
    assert nn.clip_grad_norm([a, b], 1.0) == pytest.approx(5.0)
    assert math.sqrt(a.grad @ a.grad + b.grad @ b.grad) == pytest.approx(1.0, rel=1e-5)
    assert nn.clip_grad_norm([a, b], 10.0) == pytest.approx(1.0, rel=1e-5)  # below the limit: untouched


def test_schedules():
    cos = nn.make_schedule("cosine", lr=1e-3, total=2000, min_lr=1e-4, warmup=100)
    assert cos(0) == pytest.approx(1e-3 / 101)
    assert cos(100) == pytest.approx(1e-3)
    assert cos(1050) == pytest.approx(5.5e-4)
    assert cos(2000) == cos(5000) == pytest.approx(1e-4)
    lin = nn.make_schedule("linear", lr=1.0, total=10, min_lr=0.0)
    assert [round(lin(s), 3) for s in (0, 5, 10)] == [1.0, 0.5, 0.0]
    step = nn.make_schedule("step", lr=0.1, step_size=100)
    assert step(99) == 0.1 and step(100) == pytest.approx(0.01)
    assert nn.make_schedule("constant", lr=0.3)(12345) == 0.3
    with pytest.raises(ValueError, match="unknown lr schedule 'cosin'"):
        nn.make_schedule("cosin", lr=1)


def test_linear_regression_recovers_true_weights():
    r = np.random.default_rng(0)
    w_true, b_true = np.array([[2.0, -3.0, 0.5]]), np.array([0.7])
    x = r.standard_normal((256, 3))
    y = x @ w_true.T + b_true
    model = nn.Linear(3, 1, rng=r, dtype=np.float64)
    opt = nn.SGD(model.parameters(), lr=0.1)
    for _ in range(300):
        loss = ((model(Tensor(x)) - y) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    np.testing.assert_allclose(model.weight.data, w_true, atol=1e-3)
    np.testing.assert_allclose(model.bias.data, b_true, atol=1e-3)


def test_mlp_learns_xor():
    r = np.random.default_rng(0)
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
    y = np.array([0, 1, 1, 0])
    mlp = nn.Sequential(nn.Linear(2, 8, rng=r), nn.Tanh(), nn.Linear(8, 2, rng=r))
    opt = nn.Adam(mlp.parameters(), lr=0.05)
    for _ in range(300):
        loss = F.cross_entropy(mlp(Tensor(x)), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert (mlp(Tensor(x)).data.argmax(-1) == y).all()
    assert loss.item() < 0.05


@pytest.mark.parametrize("lr2", [1e-2 / 3, 1e-2], ids=["two lrs", "one lr"])
@pytest.mark.parametrize("cls", [nn.Adam, nn.AdamW], ids=["L2 decay", "decoupled decay"])
def test_fast_step_equals_reference_update(cls, lr2):
    """Adam's fast whole-model step (lmladder/fast/adam.py) against its per-parameter reference_update, float32,
    several steps, two groups (decay / none). The fast step folds the bias corrections into two scalars, so its
    update rounds differently: each step may move a weight by one float32 rounding more or less (a spacing of
    max(|w|, lr)), so after n steps they agree to 2n such spacings. With decoupled decay the moments agree to the
    bit (the same ops on the same gradients); with L2 decay the gradient adds wd * w, so they inherit the
    weights' rounding."""
    r = np.random.default_rng(5)
    shapes = [(3, 5), (64,), (10, 13), (7,), (1,), (4, 40), (2,)]
    w0 = [r.standard_normal(s).astype(np.float32) for s in shapes]
    lr, steps = 1e-2, 6

    def make():
        ps = [nn.Parameter(w.copy()) for w in w0]
        groups = [
            {"params": [ps[0], ps[2], ps[5]], "weight_decay": 0.1},
            {"params": [ps[1], ps[3], ps[4], ps[6]], "weight_decay": 0.0, "lr": lr2},
        ]
        return ps, cls(groups, lr=lr, betas=(0.9, 0.99), eps=1e-8)

    (pf, fast), (pr, ref) = make(), make()
    ref.fast_step = lambda: False  # step() then runs reference_update on each parameter
    for _ in range(steps):
        grads = [r.standard_normal(s).astype(np.float32) for s in shapes]
        for ps, opt in ((pf, fast), (pr, ref)):
            for p, g in zip(ps, grads, strict=True):
                p.grad = g.copy()
            opt.step()

    def close(a, b, floor, what):
        bound = 2 * steps * np.spacing(np.maximum(np.abs(b), np.float32(floor)))
        assert (np.abs(a - b) <= bound).all(), f"{what}: off by {np.abs(a - b).max()} (bound {bound.min()}..)"

    for i, (a, b) in enumerate(zip(pf, pr, strict=True)):
        assert not np.array_equal(b.data, w0[i])  # every parameter moved
        close(a.data, b.data, lr, f"weight {i}")
    for name in ("exp_avg", "exp_avg_sq"):
        for i, (a, b) in enumerate(zip(fast.state[name], ref.state[name], strict=True)):
            if cls.decoupled:
                np.testing.assert_array_equal(a, b, err_msg=f"{name} of parameter {i}")
            else:
                close(a, b, 0, f"{name} of parameter {i}")
