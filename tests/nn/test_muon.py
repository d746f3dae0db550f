"""Muon against a direct transcription of the published algorithm (and torch.optim.Muon where installed), its
checkpoint state, its parameter split, and the warmup-stable-decay schedule."""

import numpy as np
import pytest

from lmladder import nn
from lmladder.fast import share
from lmladder.models.transformer import GPT, GPTConfig
from lmladder.nn.schedules import ScheduleSettings, WsdSettings


def published_zeropower(G, steps):
    """Keller Jordan's zeropower_via_newtonschulz5 (github.com/KellerJordan/Muon), in NumPy float64."""
    a, b, c = (3.4445, -4.7750, 2.0315)
    X = G.copy()
    if G.shape[-2] > G.shape[-1]:
        X = X.T
    X = X / (np.linalg.norm(X) + 1e-7)
    for _ in range(steps):
        A = X @ X.T
        B = b * A + c * A @ A
        X = a * X + B @ X
    if G.shape[-2] > G.shape[-1]:
        X = X.T
    return X


def published_muon(w, grads, lr, beta, wd, nesterov=True, steps=5):
    """muon_update + the step of Muon.step (weight decay, then the update), for one matrix."""
    m = np.zeros_like(w)
    for g in grads:
        m = beta * m + (1 - beta) * g  # momentum.lerp_(grad, 1 - beta)
        u = (1 - beta) * g + beta * m if nesterov else m  # grad.lerp_(momentum, beta)
        u = published_zeropower(u, steps) * max(1, w.shape[-2] / w.shape[-1]) ** 0.5
        w = w * (1 - lr * wd) - lr * u
    return w


@pytest.mark.parametrize("shape, nesterov", [((6, 4), True), ((3, 5), True), ((4, 4), False)])
def test_muon_matches_the_published_algorithm_and_adamw_takes_the_rest(shape, nesterov):
    r = np.random.default_rng(0)
    w0, v0 = r.standard_normal(shape), r.standard_normal(3)
    grads = [(r.standard_normal(shape), r.standard_normal(3)) for _ in range(4)]
    w, v = nn.Parameter(w0.copy()), nn.Parameter(v0.copy())
    opt = nn.Muon(
        [{"params": [w], "muon": True}, {"params": [v]}], lr=0.01, muon_lr=0.05, weight_decay=0.1, nesterov=nesterov,
        momentum=0.9,
    )  # fmt: skip
    ref_v = nn.AdamW([nn.Parameter(v0.copy())], lr=0.01, weight_decay=0.1)
    for gw, gv in grads:
        w.grad, v.grad = gw.copy(), gv.copy()
        opt.step()
        ref_v.params[0].grad = gv.copy()
        ref_v.step()
    np.testing.assert_allclose(w.data, published_muon(w0, [g for g, _ in grads], 0.05, 0.9, 0.1, nesterov), rtol=1e-12)
    np.testing.assert_array_equal(v.data, ref_v.params[0].data)


def test_the_batched_step_is_the_reference_to_rounding_and_the_same_bits_on_any_thread_count():
    """Muon.step orthogonalises the matrices of one shape together on the cores (fast/newton_schulz.py): float32
    rounding apart from reference_update one parameter after another, and the same bits on 1 or 2 threads, on a
    2-layer GPT's float32 parameters and gradients."""
    r = np.random.default_rng(4)
    model = GPT(GPTConfig(vocab_size=11, block_size=8, n_layer=2, n_head=2, n_embd=32), rng=r)
    params = [p for _, p in model.named_parameters()]
    w0 = [p.data.copy() for p in params]
    steps = [[r.standard_normal(p.shape).astype(np.float32) for p in params] for _ in range(3)]

    def run(step):
        for p, w in zip(params, w0, strict=True):
            p.data = w.copy()
        opt = nn.Muon(nn.muon_groups(model, 0.1), lr=0.003, muon_lr=0.03, weight_decay=0.1)
        for grads in steps:
            for p, g in zip(params, grads, strict=True):
                p.grad = g.copy()
            step(opt)
        return [p.data.copy() for p in params]

    def one_after_another(opt):
        opt.step_count += 1
        i = 0
        for group in opt.param_groups:
            for p in group["params"]:
                opt.reference_update(p.data, p.grad, i, group)
                i += 1

    runs = []
    for n in (1, 2):
        share.pin(n)
        try:
            runs.append(run(nn.Muon.step))
        finally:
            share.pin(None)
    reference = run(one_after_another)
    for a, b, ref, w in zip(*runs, reference, w0, strict=True):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_allclose(a - w, ref - w, rtol=1e-4, atol=1e-6)  # the steps taken, to rounding


def test_newton_schulz_pushes_every_singular_value_near_one():
    G = np.random.default_rng(1).standard_normal((32, 64)) @ np.diag(np.logspace(-2, 1, 64))
    s = np.linalg.svd(nn.newton_schulz(G, 5), compute_uv=False)
    assert 0.6 < s.min() and s.max() < 1.25  # the quintic's band: not exact, fast (Jordan, 2024)
    assert nn.newton_schulz(G.astype(np.float32), 5).dtype == np.float32


def test_the_matrices_rate_follows_the_schedule_in_proportion():
    w = nn.Parameter(np.eye(3))
    opt = nn.Muon([{"params": [w], "muon": True}], lr=0.002, muon_lr=0.04, momentum=0.0, nesterov=False)
    opt.set_lr(0.001)  # half the peak: the matrices move by half of muon_lr
    w.grad = np.diag([1.0, 2.0, 3.0])
    opt.step()
    np.testing.assert_allclose(w.data, np.eye(3) * (1 - 0.02), atol=0.05)  # orthogonalised: ~ the identity


def test_state_dict_roundtrip_continues_bit_for_bit():
    r = np.random.default_rng(2)
    w0, grads = r.standard_normal((4, 3)), [r.standard_normal((4, 3)) for _ in range(6)]

    def run(split):
        w = nn.Parameter(w0.copy())
        opt = nn.Muon([{"params": [w], "muon": True}], lr=0.1)
        for i, g in enumerate(grads):
            if i == split:
                sd = opt.state_dict()
                sd = {**sd, "buffers": {k: [a.copy() for a in v] for k, v in sd["buffers"].items()}}
                w = nn.Parameter(w.data.copy())
                opt = nn.Muon([{"params": [w], "muon": True}], lr=0.1)
                opt.load_state_dict(sd)
            w.grad = g.copy()
            opt.step()
        return w.data

    np.testing.assert_array_equal(run(-1), run(3))


def test_muon_groups_split_a_gpt_into_matrices_and_the_rest():
    g = GPT(GPTConfig(vocab_size=11, n_layer=2, n_head=2, n_embd=8, tie_weights=False), rng=np.random.default_rng(0))
    groups = nn.muon_groups(g, 0.1)
    names = {id(p): n for n, p in g.named_parameters()}
    muon = sorted(names[id(p)] for p in groups[-1]["params"])
    assert groups[-1]["muon"] and len(muon) == 8 and all(n.startswith("blocks.") for n in muon)
    rest = {names[id(p)] for grp in groups[:-1] for p in grp["params"]}
    assert {"wte.weight", "lm_head.weight", "wpe.weight"} <= rest and not rest & set(muon)


def test_muon_refuses_a_model_without_matrices_and_groups_that_are_not_matrices():
    class Gains(nn.Module):
        def __init__(self):
            self.gain = nn.Parameter(np.ones(4))

    with pytest.raises(ValueError, match="optim.name=muon: Gains has no hidden matrices .* use optim.name=adamw"):
        nn.muon_groups(Gains(), 0.0)
    with pytest.raises(ValueError, match=r"muon=True groups hold matrices only, got shapes \[\(4,\)\]"):
        nn.Muon([{"params": [nn.Parameter(np.ones(4))], "muon": True}])
    with pytest.raises(ValueError, match="no group has muon=True matrices"):
        nn.Muon([nn.Parameter(np.ones((2, 2)))])


def test_muon_matches_torch_optim_muon():
    torch = pytest.importorskip("torch")
    if not hasattr(torch.optim, "Muon"):
        pytest.skip("this PyTorch has no torch.optim.Muon")
    r = np.random.default_rng(3)
    w0, grads = r.standard_normal((8, 5)), [r.standard_normal((8, 5)) for _ in range(3)]
    tw = torch.nn.Parameter(torch.tensor(w0.copy()))
    topt = torch.optim.Muon([tw], lr=0.02, weight_decay=0.1, momentum=0.95, nesterov=True, ns_steps=5)
    w = nn.Parameter(w0.copy())
    opt = nn.Muon([{"params": [w], "muon": True}], lr=0.001, muon_lr=0.02, weight_decay=0.1)
    for g in grads:
        tw.grad = torch.tensor(g.copy())
        topt.step()
        w.grad = g.copy()
        opt.step()
    # torch orthogonalises in bfloat16: the moves (~0.06) agree to a few per cent, bf16 through 5 iterations
    ours, theirs = w.data - w0, tw.detach().numpy() - w0
    assert np.abs(theirs).max() > 0.02
    np.testing.assert_allclose(ours, theirs, atol=3e-3)  # a wrong scale or momentum misses by > 0.01


def test_warmup_stable_decay():
    wsd = nn.make_schedule("wsd", lr=1.0, total=100, min_lr=0.1, warmup=10, cooldown_frac=0.2)
    assert wsd(0) == pytest.approx(1 / 11) and wsd(10) == wsd(50) == wsd(80) == 1.0
    assert wsd(90) == pytest.approx(0.55) and wsd(100) == wsd(500) == pytest.approx(0.1)
    assert [wsd(s) for s in range(80, 100)] == sorted((wsd(s) for s in range(80, 100)), reverse=True)


def test_sqrt_cooldown_drops_faster_and_meets_linear_at_the_ends():
    kw = dict(lr=1.0, total=100, min_lr=0.1, warmup=10, cooldown_frac=0.2)
    lin, sq = nn.make_schedule("wsd", **kw), nn.make_schedule("wsd", shape="sqrt", **kw)
    assert [sq(s) for s in range(81)] == [lin(s) for s in range(81)] and sq(100) == lin(100) == pytest.approx(0.1)
    assert sq(85) == pytest.approx(0.1 + 0.9 * (1 - 0.25**0.5)) and sq(95) == pytest.approx(0.1 + 0.9 * (1 - 0.75**0.5))
    assert all(sq(s) < lin(s) for s in range(81, 100))  # 1 - sqrt(f) < 1 - f inside the cooldown
    assert [sq(s) for s in range(80, 101)] == sorted((sq(s) for s in range(80, 101)), reverse=True)
    with pytest.raises(ValueError, match="unknown cooldown shape 'cubic'"):
        nn.make_schedule("wsd", shape="cubic", **kw)


def test_cooldown_shape_reaches_the_schedule_a_run_builds():
    settings = dict(name="wsd", min_lr=0.1, warmup_iters=10)
    sq = ScheduleSettings(wsd=WsdSettings(cooldown_frac=0.2, cooldown_shape="sqrt"), **settings).build(1.0, 100)
    lin = ScheduleSettings(wsd=WsdSettings(cooldown_frac=0.2), **settings).build(1.0, max_iters=100)
    assert sq(85) == pytest.approx(0.1 + 0.9 * 0.5) and lin(85) == pytest.approx(0.1 + 0.9 * 0.75)
