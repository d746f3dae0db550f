"""The backward walk: ordering, accumulation, graph release, no_grad, detach, dtype and aliasing rules, with the
engine's plain gradient sums (the numpy backend) and lmladder.fast's copy-free ones alike."""

import numpy as np
import pytest

from lmladder.autograd import AutogradError, Tensor, gradcheck, no_grad, unbroadcast
from lmladder.fast import switch


@pytest.fixture(autouse=True, params=["compiled", "numpy"])
def backend(request):
    switch.set_backend(request.param)
    yield request.param
    switch.set_backend("compiled")


def leaf(*shape, dtype=np.float64, seed=0):
    return Tensor(np.random.default_rng(seed).standard_normal(shape).astype(dtype), requires_grad=True)


def test_diamond_graph_sums_both_paths():
    # y = e / sum(e): e reaches y directly and through the sum; both paths must arrive before e is expanded
    assert gradcheck(lambda x: x.exp() / x.exp().sum(axis=-1, keepdims=True), [np.random.randn(3, 4)])
    assert gradcheck(lambda x: (x * x + x).tanh() * x, [np.random.randn(2, 3)])


def test_shared_subexpression_used_many_times():
    def f(x):
        h = x.tanh()
        return h * h + h.exp() + (h @ h.T).sum(axis=0)

    assert gradcheck(f, [np.random.randn(3, 3)])


def test_deep_chain_does_not_hit_recursion_limit():
    x = leaf(2)
    y = x
    for _ in range(10_000):
        y = y * 1.0001
    y.sum().backward()
    np.testing.assert_allclose(x.grad, np.full(2, 1.0001**10_000), rtol=1e-9)


def test_gradients_accumulate_across_backward_calls():
    x = leaf(3)
    (x * 2).sum().backward()
    (x * 3).sum().backward()
    np.testing.assert_allclose(x.grad, np.full(3, 5.0))
    x.zero_grad()
    assert x.grad is None


def test_graph_released_after_backward():
    x = leaf(3)
    h = x * 2
    y = h.sum()
    y.backward()
    assert not hasattr(y._node, "saved") and not hasattr(h._node, "saved")  # nodes and their arrays are freed
    before = x.grad.copy()
    with pytest.raises(AutogradError, match="already released"):
        y.backward()
    np.testing.assert_array_equal(x.grad, before)


def test_second_backward_through_a_shared_released_graph_is_an_error_not_a_wrong_gradient():
    x = leaf(3)
    h = x * 2
    l1, l2 = h.sum(), (h * h).sum()
    l1.backward()
    with pytest.raises(AutogradError, match="add the losses and call backward"):
        l2.backward()  # h's graph is gone: treating h as a leaf would leave x.grad silently wrong
    x.grad = None
    h = x * 2
    (h.sum() + (h * h).sum()).backward()  # the fix the message names
    np.testing.assert_allclose(x.grad, 2 + 8 * x.data)


def test_no_grad_builds_no_graph_and_detach_cuts():
    x = leaf(2, 2)
    with no_grad():
        y = x * 2
    assert not y.requires_grad and y._node is None
    z = (x.detach() * x).sum()
    z.backward()
    np.testing.assert_allclose(x.grad, x.data)  # only the non-detached factor carries gradient


def test_backward_needs_scalar_or_explicit_grad():
    x = leaf(2, 3)
    y = x * 2
    with pytest.raises(AutogradError, match="single-element"):
        y.backward()
    y.backward(np.ones((2, 3)))
    np.testing.assert_allclose(x.grad, 2 * np.ones((2, 3)))


def test_backward_on_tensor_without_grad_is_a_clear_error():
    with pytest.raises(AutogradError, match="does not require grad"):
        Tensor(np.ones(2)).sum().backward()


def test_requires_grad_on_integer_tensor_is_refused():
    with pytest.raises(AutogradError, match="floating dtype"):
        Tensor(np.arange(3), requires_grad=True)


def test_leaf_grads_never_alias_each_other():
    a, b = leaf(2, 2, seed=1), leaf(2, 2, seed=2)
    (a + b).sum().backward()  # Add hands the same array to both inputs
    a.grad *= 10
    np.testing.assert_allclose(b.grad, np.ones((2, 2)))
    c = leaf(4)
    d = leaf(2, 2, seed=3)
    (c.reshape(2, 2) + d).sum().backward()  # c's grad is a reshaped view of d's
    c.grad *= 3
    np.testing.assert_allclose(d.grad, np.ones((2, 2)))


def test_subgraph_without_grad_is_skipped():
    x = leaf(2)
    const = Tensor(np.ones(2))
    y = (const * 3).exp()  # no tensor here requires grad: no node is recorded
    assert y._node is None
    (x * y).sum().backward()
    np.testing.assert_allclose(x.grad, np.exp(3) * np.ones(2))


def test_float32_stays_float32():
    x = leaf(3, 4, dtype=np.float32)
    w = leaf(4, 2, dtype=np.float32, seed=1)
    y = ((x @ w).tanh() * 0.5 + 1.0) / 2.0
    assert y.dtype == np.float32
    y.sum().backward()
    assert x.grad.dtype == np.float32 and w.grad.dtype == np.float32


def test_unbroadcast():
    g = np.ones((4, 3, 2))
    assert unbroadcast(g, (3, 2)).tolist() == np.full((3, 2), 4.0).tolist()
    assert unbroadcast(g, (3, 1)).tolist() == np.full((3, 1), 8.0).tolist()
    assert unbroadcast(g, ()).item() == 24.0
    assert unbroadcast(g, (1, 1, 2)).shape == (1, 1, 2)


def test_operators_with_constants_on_both_sides():
    assert gradcheck(lambda x: 2.0 - x + 1.0 / x * 3 - (x**2) / 4.0 + np.ones(3) * x, [np.random.rand(2, 3) + 1])
    assert gradcheck(lambda x: np.eye(2) @ x, [np.random.randn(2, 2)])


def test_both_gradient_sums_give_the_same_bits(backend):
    """A GPT's gradients after two backward passes (accumulated), with either backend's sums; in float64, so that
    the kernels are NumPy's under both backends."""
    from lmladder.models import build_model

    def grads(name):
        switch.set_backend(name)
        model = build_model("transformer", vocab_size=11, block_size=8, n_layer=2, n_head=2, n_embd=16, dropout=0.1,
                            rng=np.random.default_rng(0))  # fmt: skip
        for p in model.parameters():
            p.data = p.data.astype(np.float64)
        for batch in np.random.default_rng(1).integers(0, 11, (2, 3, 9)):
            model(batch[:, :-1], batch[:, 1:])[1].backward()
        return [p.grad.copy() for p in model.parameters()]

    if backend == "compiled":
        for a, b in zip(grads("compiled"), grads("numpy"), strict=True):
            np.testing.assert_array_equal(a, b)
