"""Adam's fast step (fast/adam.py) is its stated algebra to the bit, and declines what it does not take."""

import math

import numpy as np
import pytest

from lmladder import nn
from lmladder.fast import switch

pytest.importorskip("lmladder.fast.kernels_jit")
f32 = np.float32


def algebra(w, g, m, v, t, lr, wd, decoupled, b1=0.9, b2=0.99, eps=1e-8):
    """adam.py's docstring in NumPy float32, one parameter, in place."""
    root_bc2 = math.sqrt(1 - b2**t)
    alpha_t, eps_hat = lr * root_bc2 / (1 - b1**t), eps * root_bc2
    if wd and not decoupled:
        g = g + w * f32(wd)
    m[...] = m * f32(b1) + g * f32(1 - b1)
    v[...] = v * f32(b2) + g * g * f32(1 - b2)
    decay = f32(1 - lr * wd) if wd and decoupled else f32(1)
    w[...] = w * decay - m / (np.sqrt(v) + f32(eps_hat)) * f32(alpha_t)


@pytest.mark.parametrize("cls", [nn.Adam, nn.AdamW], ids=["L2 decay", "decoupled decay"])
def test_the_fast_step_is_its_algebra_to_the_bit(cls):
    rng = np.random.default_rng(0)
    shapes = [(300, 256), (64,), (128, 4), (70_000,), (5, 5)]
    params = [nn.Parameter(rng.standard_normal(s).astype(np.float32)) for s in shapes]
    groups = [{"params": params[:3], "weight_decay": 0.1}, {"params": params[3:], "weight_decay": 0.0, "lr": 3e-3}]
    opt = cls(groups, lr=1e-2, betas=(0.9, 0.99), eps=1e-8)
    ws = [p.data.copy() for p in params]
    ms, vs = [np.zeros_like(w) for w in ws], [np.zeros_like(w) for w in ws]
    hyper = [(1e-2, 0.1)] * 3 + [(3e-3, 0.0)] * 2
    for t in range(1, 5):
        for p in params:
            p.grad = rng.standard_normal(p.data.shape).astype(np.float32)
        for p, w, m, v, (lr, wd) in zip(params, ws, ms, vs, hyper, strict=True):
            algebra(w, p.grad, m, v, t, lr, wd, cls.decoupled)
        opt.step_count += 1
        assert opt.fast_step()
    for i, p in enumerate(params):
        np.testing.assert_array_equal(p.data, ws[i], err_msg=f"weight {i}")
        np.testing.assert_array_equal(opt.state["exp_avg"][i], ms[i], err_msg=f"exp_avg {i}")
        np.testing.assert_array_equal(opt.state["exp_avg_sq"][i], vs[i], err_msg=f"exp_avg_sq {i}")


def test_the_fast_step_declines_what_it_does_not_take():
    def opt(*arrays, grads=True):
        params = [nn.Parameter(a) for a in arrays]
        for p in params:
            p.grad = np.ones_like(p.data) if grads else None
        optimizer = nn.AdamW(params)
        optimizer.step_count = 1  # as step() sets it before fast_step()
        return optimizer

    assert opt(np.ones(3, np.float32)).fast_step()
    assert not opt(np.ones(3)).fast_step()  # float64: the reference
    assert not opt(np.ones(3, np.float32), np.ones(2)).fast_step()  # mixed dtypes
    assert not opt(np.ones((3, 4), np.float32).T).fast_step()  # a strided weight
    assert not opt(np.ones(3, np.float32), grads=False).fast_step()  # a parameter without a gradient
    switch.set_backend("numpy")
    try:
        assert not opt(np.ones(3, np.float32)).fast_step()
    finally:
        switch.set_backend("compiled")
