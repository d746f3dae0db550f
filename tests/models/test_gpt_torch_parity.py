"""lmladder's GPT against an independent PyTorch implementation (benchmarks/torch_ref.py, written from the papers),
in float64: the same logits, loss and gradient of every parameter to 1e-10 with each GPTConfig option alone and all
together; KV-cached decoding against torch's full forward; and the benchmark's Muon/AdamW split against
muon_groups. Skipped without PyTorch (the benchmark environment has it)."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from lmladder import nn
from lmladder.autograd import no_grad
from lmladder.models.transformer import GPT, GPTConfig

torch = pytest.importorskip("torch")

SIZES = dict(vocab_size=11, block_size=8, n_layer=3, n_head=4, n_embd=16)  # head size 4; value embeds on layers 0, 2
OPTIONS = {
    "default": {},
    "rope": dict(pos="rope"),
    "rope base 100": dict(pos="rope", rope_base=100.0),
    "qk_norm": dict(qk_norm=True),
    "relu2": dict(activation="relu2"),
    "gelu_exact": dict(activation="gelu_exact"),
    "zero_init_proj": dict(zero_init_proj=True),
    "softcap": dict(logit_softcap=2.0),
    "value_embeds": dict(value_embeds=True),
    "value_embeds, 4 layers": dict(value_embeds=True, n_layer=4),  # on layers 1 and 3
    "gqa": dict(n_kv_head=2),  # 2 query heads per key/value head: repeat_interleave, not tile
    "mqa": dict(n_kv_head=1),
    "untied": dict(tie_weights=False),
    "rmsnorm": dict(norm="rmsnorm"),
    "bias": dict(bias=True),
    "conv": dict(lookback=dict(conv=dict(kernel=3))),
    "conv wider than the window": dict(lookback=dict(conv=dict(kernel=10))),
    "conv on q, k, v (Canon-B)": dict(lookback=dict(conv=dict(kernel=3, at="b"))),
    "conv inside the MLP (Canon-D)": dict(lookback=dict(conv=dict(kernel=3, at="d"))),
    "conv at every place, gqa": dict(lookback=dict(conv=dict(kernel=2, at="abcd")), n_kv_head=2),
    "value_residual": dict(value_residual=True),
    "value_residual, value_embeds, gqa": dict(value_residual=True, value_embeds=True, n_kv_head=1),
    "all": dict(
        pos="rope", rope_base=500.0, qk_norm=True, activation="relu2", zero_init_proj=True, logit_softcap=3.0,
        value_embeds=True, n_kv_head=2, tie_weights=False, norm="rmsnorm", bias=True, value_residual=True,
        lookback=dict(conv=dict(kernel=4, at="abcd")),
    ),
}  # fmt: skip


def load_torch_ref():
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "torch_ref.py"
    spec = importlib.util.spec_from_file_location("torch_ref", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


torch_ref = load_torch_ref()


def pair(options, sdpa=False):
    """(lmladder GPT, torch GPT) in float64 with the same jittered weights (zero projections and unit gains moved
    off their init, so every path carries signal)."""
    c = {**SIZES, **options}
    ours = GPT(GPTConfig(**c), rng=np.random.default_rng(0), dtype=np.float64)
    r = np.random.default_rng(42)
    for p in ours.parameters():
        p.data += 0.3 * r.standard_normal(p.shape)
    sizes = [c.pop(k) for k in SIZES]  # vocab, block, layers, heads, width: torch_ref.GPT's positional arguments
    ref = torch_ref.GPT(*sizes, sdpa, **c).double()
    named = dict(ours.named_parameters())
    assert set(named) == {n for n, _ in ref.named_parameters()}
    with torch.no_grad():
        for n, p in ref.named_parameters():
            p.copy_(torch.from_numpy(named[n].data))
    return ours, ref


def close(a, b):
    np.testing.assert_allclose(a, b.detach().numpy(), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("name", OPTIONS)
def test_logits_loss_and_every_gradient_match_torch(name):
    ours, ref = pair(OPTIONS[name])
    r = np.random.default_rng(1)
    idx, tgt = r.integers(0, 11, (3, 8)), r.integers(0, 11, (3, 8))
    logits, loss = ours(idx, tgt)
    loss.backward()
    t_logits, t_loss = ref(torch.from_numpy(idx), torch.from_numpy(tgt))
    t_loss.backward()
    close(logits.data, t_logits)
    close(loss.data, t_loss)
    for n, p in ref.named_parameters():
        close(dict(ours.named_parameters())[n].grad, p.grad)


@pytest.mark.parametrize("name", ["default", "all"])
def test_torch_sdpa_variant_is_the_same_model(name):
    ours, ref = pair(OPTIONS[name], sdpa=True)
    idx = np.random.default_rng(1).integers(0, 11, (2, 8))
    with no_grad():
        close(ours(idx)[0].data, ref(torch.from_numpy(idx))[0])


@pytest.mark.parametrize(
    "name",
    ["default", "rope", "qk_norm", "value_embeds", "gqa", "conv", "conv at every place, gqa", "value_residual", "all"],
)
def test_kv_cached_decoding_matches_torch_full_forward(name):
    ours, ref = pair(OPTIONS[name])
    idx = np.random.default_rng(1).integers(0, 11, (2, 8))
    with no_grad():
        cache = ours.new_cache(2)
        steps = [ours(idx[:, :3], cache=cache)[0].data]  # a prompt of 3, then one token at a time
        steps += [ours(idx[:, t : t + 1], cache=cache)[0].data for t in range(3, 8)]
    with torch.no_grad():
        close(np.concatenate(steps, axis=1), ref(torch.from_numpy(idx))[0])


def test_benchmark_muon_split_is_muon_groups():
    """torch_ref.muon hands the same parameters to Muon, to decayed AdamW and to undecayed AdamW as lmladder."""
    if not hasattr(torch.optim, "Muon"):
        pytest.skip("this PyTorch has no torch.optim.Muon")
    ours, ref = pair(OPTIONS["all"])
    names = {id(p): n for n, p in ours.named_parameters()}
    groups = nn.muon_groups(ours, 0.1)
    want = [sorted(names[id(p)] for p in g["params"]) for g in groups]
    chain = torch_ref.muon(ref, 3e-3, (0.9, 0.99), 0.1, fused=False, muon_lr=0.03)
    t_names = {id(p): n for n, p in ref.named_parameters()}
    got = [sorted(t_names[id(p)] for p in g["params"]) for o in chain.opts for g in o.param_groups]
    assert sorted(got) == sorted(want)
    assert isinstance(chain.opts[0], torch.optim.Muon) and chain.opts[0].param_groups[0]["lr"] == 0.03
