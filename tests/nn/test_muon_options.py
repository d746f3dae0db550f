"""Muon's options as the field runs it (issue 49): q, k and v orthogonalised as separate matrices, the matrices' own
decoupled weight decay scheduled with the rate and its cautious variant, the momentum warm-up and the Polar Express
coefficients; exact checks on tiny matrices, the optimizer built from the settings, and torch.optim.Muon where
installed."""

import numpy as np
import pytest

from lmladder import nn
from lmladder.fast import share
from lmladder.models.mlp import MLP, MLPConfig
from lmladder.models.transformer import GPT, GPTConfig
from lmladder.nn.muon import MuonSettings
from lmladder.training.settings import OptimSettings, SettingsError, TrainSettings, check_model


def _muon(params, **hyper):
    return nn.Muon([{"params": params, "muon": True}], **{"lr": 0.01, "muon_lr": 0.05, **hyper})


def _train(params, grads, **hyper):
    """Muon steps on `params` with the gradients `grads` (one list per step); returns the optimizer."""
    opt = _muon(params, **hyper)
    for step in grads:
        for p, g in zip(params, step, strict=True):
            p.grad = g.copy()
        opt.step()
    return opt


@pytest.mark.parametrize("blocks", [(4, 2, 2), (6, 2, 2)])  # grouped k/v heads; a q block taller than wide
@pytest.mark.parametrize("pinned", [1, 2])  # the blocks one after another, or side by side on two cores
def test_split_blocks_equal_orthogonalising_q_k_v_each_by_itself(blocks, pinned):
    r = np.random.default_rng(0)
    w0 = r.standard_normal((sum(blocks), 4))
    grads = [r.standard_normal(w0.shape) for _ in range(4)]
    fused = nn.Parameter(w0.copy())
    fused.row_blocks = blocks
    edges = np.cumsum((0, *blocks))
    parts = [nn.Parameter(w0[a:b].copy()) for a, b in zip(edges[:-1], edges[1:], strict=True)]
    share.pin(pinned)
    try:
        _train([fused], [[g] for g in grads], split_blocks=True, weight_decay=0.1)
        _train(parts, [[g[a:b] for a, b in zip(edges[:-1], edges[1:], strict=True)] for g in grads], weight_decay=0.1)
    finally:
        share.pin(None)
    np.testing.assert_array_equal(fused.data, np.concatenate([p.data for p in parts]))
    whole = nn.Parameter(w0.copy())  # the same matrix as one: another update
    _train([whole], [[g] for g in grads], weight_decay=0.1)
    assert np.abs(whole.data - fused.data).max() > 1e-3


def test_the_reference_update_splits_as_the_step_does():
    r = np.random.default_rng(1)
    w0, grads = r.standard_normal((8, 4)), [r.standard_normal((8, 4)) for _ in range(3)]
    a, b = nn.Parameter(w0.copy()), nn.Parameter(w0.copy())
    a.row_blocks = b.row_blocks = (4, 2, 2)
    _train([a], [[g] for g in grads], split_blocks=True)
    opt = _muon([b], split_blocks=True)
    for g in grads:
        opt.step_count += 1
        opt.reference_update(b.data, g, 0, opt.param_groups[0])
    np.testing.assert_array_equal(a.data, b.data)


def test_split_blocks_ignores_matrices_without_blocks_and_refuses_blocks_that_do_not_fit():
    r = np.random.default_rng(2)
    w0, grads = r.standard_normal((6, 4)), [[r.standard_normal((6, 4))] for _ in range(2)]
    a, b = nn.Parameter(w0.copy()), nn.Parameter(w0.copy())
    _train([a], grads, split_blocks=True)
    _train([b], grads)
    np.testing.assert_array_equal(a.data, b.data)
    a.row_blocks = (4, 4)
    with pytest.raises(ValueError, match=r"row_blocks \(4, 4\) do not split a matrix of 6 rows"):
        _muon([a], split_blocks=True)


@pytest.mark.parametrize("n_kv_head", [None, 1])
def test_the_gpt_declares_its_q_k_v_rows(n_kv_head):
    c = GPTConfig(vocab_size=11, n_layer=2, n_head=2, n_embd=8, n_kv_head=n_kv_head, value_embeds=True)
    model = GPT(c, rng=np.random.default_rng(0))
    kv = 8 // 2 * (n_kv_head or 2)
    declared = {n: p.row_blocks for n, p in model.named_parameters() if p.row_blocks}
    assert declared == {f"blocks.{i}.attn.c_attn.weight": (8, kv, kv) for i in range(2)}
    assert model.blocks[0].attn.c_attn.weight.shape == (8 + 2 * kv, 8)


def test_cautious_decay_only_where_the_update_and_the_weight_agree_in_sign():
    """momentum 0: the update is the gradient orthogonalised; the weights are laid out against its signs by hand."""
    r = np.random.default_rng(3)
    g = r.standard_normal((2, 3))
    o = nn.newton_schulz(g, 5)  # the update the step subtracts (times lr; scale 1 for a wide matrix)
    agree = np.array([[True, False, True], [False, False, True]])  # where w gets o's sign, by hand
    w0 = np.where(agree, 1.0, -1.0) * np.sign(o) * np.array([[0.5, 1.0, 2.0], [3.0, 0.25, 1.5]])
    w = nn.Parameter(w0.copy())
    lr, wd = 0.05, 0.2
    _train([w], [[g]], momentum=0.0, nesterov=False, weight_decay=wd, cautious_wd=True, muon_lr=lr)
    np.testing.assert_allclose(w.data, w0 - lr * wd * agree * w0 - lr * o, rtol=1e-14)
    plain = nn.Parameter(w0.copy())
    _train([plain], [[g]], momentum=0.0, nesterov=False, weight_decay=wd, muon_lr=lr)
    np.testing.assert_allclose(plain.data, w0 * (1 - lr * wd) - lr * o, rtol=1e-14)


@pytest.mark.parametrize("cautious", [False, True])
def test_decay_follows_the_schedule(cautious):
    """A zero gradient leaves the decay alone (a zero update agrees with every sign): each step shrinks the matrix by
    muon_lr x lr / peak x wd, at the peak and at a quarter of it."""
    w0 = np.arange(1.0, 7.0).reshape(2, 3) * np.array([1, -1, 1])
    w = nn.Parameter(w0.copy())
    opt = _muon([w], lr=0.004, muon_lr=0.05, weight_decay=0.3, cautious_wd=cautious)
    w.grad = np.zeros_like(w0)
    opt.step()
    np.testing.assert_array_equal(w.data, w0 * (1 - 0.05 * 0.3))
    opt.set_lr(0.001)
    opt.step()
    np.testing.assert_allclose(w.data, w0 * (1 - 0.05 * 0.3) * (1 - 0.05 / 4 * 0.3), rtol=1e-15)


def test_muon_weight_decay_is_the_matrices_own():
    model = GPT(GPTConfig(vocab_size=11, n_layer=1, n_head=2, n_embd=8), rng=np.random.default_rng(0))
    same, own = nn.muon_groups(model, 0.1), nn.muon_groups(model, 0.1, 0.02)
    assert [g["weight_decay"] for g in same] == [0.1, 0.0, 0.1]  # >= 2-D rest, gains, matrices
    assert [g["weight_decay"] for g in own] == [0.1, 0.0, 0.02]


def test_momentum_warms_up_step_by_step():
    r = np.random.default_rng(4)
    grads = [r.standard_normal((3, 2)) for _ in range(6)]
    w = nn.Parameter(r.standard_normal((3, 2)))
    opt = _muon([w], momentum=0.95, nesterov=False, momentum_warmup=4)
    buf, seen = np.zeros((3, 2)), []
    for t, g in enumerate(grads):
        mu = [0.85, 0.875, 0.9, 0.925, 0.95, 0.95][t]  # 0.85 -> 0.95 over steps 0..4, then flat
        buf = mu * buf + (1 - mu) * g
        w.grad = g.copy()
        opt.step()
        seen.append(opt.momentum_now(opt.param_groups[0]))
        np.testing.assert_allclose(opt.state["momentum_buffer"][0], buf, rtol=1e-13)
    np.testing.assert_allclose(seen, [0.85, 0.875, 0.9, 0.925, 0.95, 0.95], rtol=1e-15)


def test_resuming_mid_warm_up_continues_bit_for_bit():
    r = np.random.default_rng(5)
    w0, grads = r.standard_normal((8, 4)), [r.standard_normal((8, 4)) for _ in range(6)]
    hyper = dict(momentum_warmup=5, split_blocks=True, cautious_wd=True, weight_decay=0.1, ns_coeffs="polar_express")

    def run(split):
        w = nn.Parameter(w0.copy())
        w.row_blocks = (4, 2, 2)
        opt = _muon([w], **hyper)
        for i, g in enumerate(grads):
            if i == split:
                sd = opt.state_dict()
                sd = {**sd, "buffers": {k: [a.copy() for a in v] for k, v in sd["buffers"].items()}}
                w = nn.Parameter(w.data.copy())
                w.row_blocks = (4, 2, 2)
                opt = _muon([w], **hyper)
                opt.load_state_dict(sd)
            w.grad = g.copy()
            opt.step()
        return w.data

    np.testing.assert_array_equal(run(-1), run(3))


def test_polar_express_orthogonalises_tighter_in_five_steps_and_refuses_more():
    G = np.random.default_rng(1).standard_normal((32, 64)) @ np.diag(np.logspace(-2, 1, 64))
    s = np.linalg.svd(nn.newton_schulz(G, 5, coeffs="polar_express"), compute_uv=False)
    assert 0.85 < s.min() and s.max() < 1.15  # Jordan's quintic: 0.68 .. 1.20 on the same matrix
    with pytest.raises(ValueError, match=r"ns_coeffs='polar_express' is made for 5 steps; set ns_steps <= 5"):
        _muon([nn.Parameter(G)], ns_coeffs="polar_express", ns_steps=6)
    with pytest.raises(ValueError, match=r"ns_coeffs='cubic'; choose one of jordan, polar_express"):
        _muon([nn.Parameter(G)], ns_coeffs="cubic")


def test_the_settings_build_these_options():
    model = GPT(GPTConfig(vocab_size=11, n_layer=1, n_head=2, n_embd=8), rng=np.random.default_rng(0))
    muon = MuonSettings(weight_decay=0.05, split_qkv=True, cautious_wd=True, momentum_warmup=300)
    muon.ns_coeffs = "polar_express"
    s = OptimSettings(name="muon", weight_decay=0.1, muon=muon)
    s.check()
    matrices = s.build(model).param_groups[-1]
    want = dict(weight_decay=0.05, split_blocks=True, cautious_wd=True, momentum_warmup=300, ns_coeffs="polar_express")
    assert {k: matrices[k] for k in want} == want
    plain = OptimSettings(name="muon").build(model).param_groups[-1]
    assert not plain["split_blocks"] and not plain["cautious_wd"] and plain["momentum_warmup"] == 0
    assert plain["ns_coeffs"] == "jordan" and plain["weight_decay"] == 0.1


def test_settings_refuse_what_cannot_work():
    with pytest.raises(SettingsError, match=r"ns_steps=6 must be <= 5 with ns_coeffs='polar_express'"):
        OptimSettings(name="muon", muon=MuonSettings(ns_coeffs="polar_express", ns_steps=6)).check()
    mlp = MLP(MLPConfig(vocab_size=5, context=3, n_embd=4, n_hidden=8), rng=np.random.default_rng(0))
    with pytest.raises(SettingsError, match=r"muon.split_qkv=True .* this mlp model has none"):
        check_model(mlp, OptimSettings(name="muon", muon=MuonSettings(split_qkv=True)), TrainSettings())
    with pytest.raises(SettingsError, match=r"muon.split_qkv=True is read with name=muon only, and name='adamw'"):
        OptimSettings(name="adamw", muon=MuonSettings(split_qkv=True)).check()


def test_split_q_k_v_and_momentum_warm_up_match_torch_optim_muon():
    """torch.optim.Muon on q, k and v as three parameters, its momentum set per step by nanochat's rule, against ours
    on the fused matrix."""
    torch = pytest.importorskip("torch")
    if not hasattr(torch.optim, "Muon"):
        pytest.skip("this PyTorch has no torch.optim.Muon")
    r = np.random.default_rng(6)
    w0, grads = r.standard_normal((16, 8)), [r.standard_normal((16, 8)) for _ in range(4)]
    rows = [slice(0, 8), slice(8, 12), slice(12, 16)]  # q (8 x 8), k and v (4 x 8): grouped heads
    tws = [torch.nn.Parameter(torch.tensor(w0[s].copy())) for s in rows]
    topt = torch.optim.Muon(tws, lr=0.02, weight_decay=0.1, momentum=0.95, nesterov=True, ns_steps=5)
    w = nn.Parameter(w0.copy())
    w.row_blocks = (8, 4, 4)
    opt = _muon([w], lr=0.001, muon_lr=0.02, weight_decay=0.1, split_blocks=True, momentum_warmup=3)
    for t, g in enumerate(grads):
        topt.param_groups[0]["momentum"] = 0.85 + 0.1 * min(t / 3, 1)
        for tw, s in zip(tws, rows, strict=True):
            tw.grad = torch.tensor(g[s].copy())
        topt.step()
        w.grad = g.copy()
        opt.step()
    # torch orthogonalises in bfloat16 (test_muon.py): the moves agree to a few per cent
    ours, theirs = w.data - w0, np.concatenate([tw.detach().numpy() for tw in tws]) - w0
    assert np.abs(theirs).max() > 0.02
    np.testing.assert_allclose(ours, theirs, atol=3e-3)
