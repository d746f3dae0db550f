"""MLP and GPT: contract, initial loss, float64 gradchecks (attention with its causal mask, a whole GPT), KV cache."""

import dataclasses
import math

import numpy as np
import pytest

from lmladder.autograd import Tensor, gradcheck, no_grad
from lmladder.data.batching import context_windows
from lmladder.models import ModelConfigError, build_model
from lmladder.models.mlp import MLP, MLPConfig
from lmladder.models.transformer import GPT, CausalSelfAttention, GPTConfig
from tests.models import ENTRIES


def rng(s=0):
    return np.random.default_rng(s)


def small_gpt(dtype=np.float64, **kw):
    args = dict(vocab_size=7, block_size=6, n_layer=2, n_head=2, n_embd=8)
    args.update(kw)
    return GPT(GPTConfig(**args), rng=rng(), dtype=dtype)


def _jitter(model, scale=0.3):
    """Move weights off their init (zero biases, unit gains, tiny head) so every path carries signal."""
    r = rng(42)
    for p in model.parameters():
        p.data += scale * r.standard_normal(p.shape)


def test_mlp_initial_loss_is_log_vocab():
    m = MLP(MLPConfig(vocab_size=27, context=3, n_embd=10, n_hidden=200), rng=rng())
    idx = rng(1).integers(0, 27, (32, 8))
    _, loss = m(idx, rng(2).integers(0, 27, (32, 8)))
    assert abs(loss.item() - math.log(27)) < 0.05


def test_mlp_windows_pad_like_makemore():
    """The windows the MLP and the WaveNet embed: makemore's X = [0, 0, 0] for a word's first prediction."""
    w = context_windows(np.array([[0, 5, 13, 13]]), 3, pad_id=0)  # boundary, e, m, m
    assert w[0].tolist() == [[0, 0, 0], [0, 0, 5], [0, 5, 13], [5, 13, 13]]


def test_mlp_gradcheck_end_to_end():
    m = MLP(MLPConfig(vocab_size=5, context=2, n_embd=3, n_hidden=4, n_layers=2), rng=rng(), dtype=np.float64)
    _jitter(m)
    idx, tgt = rng(1).integers(0, 5, (2, 3)), rng(2).integers(0, 5, (2, 3))
    assert gradcheck(lambda: m(idx, tgt)[1], [], params=m.parameters(), name="MLP")


ATTN = GPTConfig(n_embd=8, n_head=2, bias=True)


def test_attention_layer_gradcheck_with_causal_mask():
    attn = CausalSelfAttention(ATTN, rng(), np.float64)
    _jitter(attn)
    x = rng(3).standard_normal((2, 4, 8))
    assert gradcheck(lambda xx: attn(xx), [x], params=attn.parameters(), name="CausalSelfAttention")


def test_attention_is_causal():
    attn = CausalSelfAttention(ATTN, rng(), np.float64)
    x = rng(3).standard_normal((1, 5, 8))
    y1 = attn(Tensor(x)).data
    x2 = x.copy()
    x2[:, 3:] += 10  # changing the future must not change the past
    y2 = attn(Tensor(x2)).data
    np.testing.assert_allclose(y1[:, :3], y2[:, :3])
    assert not np.allclose(y1[:, 3:], y2[:, 3:])


@pytest.mark.parametrize("norm,act,bias,tie", [("layernorm", "gelu", False, True), ("rmsnorm", "relu", True, False)])
def test_whole_gpt_gradcheck(norm, act, bias, tie):
    g = small_gpt(norm=norm, activation=act, bias=bias, tie_weights=tie)
    _jitter(g, 0.2)
    idx, tgt = rng(1).integers(0, 7, (2, 5)), rng(2).integers(0, 7, (2, 5))
    assert gradcheck(
        lambda: g(idx, tgt)[1], [], params=g.parameters(), name=f"GPT[{norm},{act}]", atol=1e-5, elements=ENTRIES
    )


def test_gpt_with_dropout_gradchecks_under_fixed_masks():
    g = small_gpt(dropout=0.2)
    _jitter(g, 0.2)
    idx, tgt = rng(1).integers(0, 7, (1, 4)), rng(2).integers(0, 7, (1, 4))

    def loss():
        for m in g.modules():  # the same masks on every call: reseed each dropout's generator
            if hasattr(m, "rng") and m.rng is not None:
                m.rng.bit_generator.state = np.random.default_rng(5).bit_generator.state
        return g(idx, tgt)[1]

    assert gradcheck(loss, [], params=g.parameters(), name="GPT dropout", atol=1e-5, elements=ENTRIES)


def test_gpt_weight_tying_and_param_count():
    g = GPT(GPTConfig(vocab_size=65, block_size=64, n_layer=4, n_head=4, n_embd=128), rng=rng())
    assert g.lm_head.weight is g.wte.weight
    # nanoGPT reports 0.80M for this config (it leaves out the position embeddings)
    assert g.num_parameters() - 64 * 128 == 795_904


def test_gpt_residual_projection_init_is_scaled():
    g = GPT(GPTConfig(vocab_size=65, block_size=64, n_layer=8, n_head=4, n_embd=128), rng=rng())
    assert abs(g.blocks[0].mlp.c_proj.weight.data.std() - 0.02 / math.sqrt(16)) < 5e-4
    assert abs(g.blocks[0].attn.c_attn.weight.data.std() - 0.02) < 5e-4


INFER_CASES = [
    ("layernorm", "gelu", False, True),
    ("rmsnorm", "relu", True, False),
    ("layernorm", "gelu_exact", True, True),
    ("layernorm", "tanh", False, True),
]


@pytest.mark.parametrize("norm,act,bias,tie", INFER_CASES)
def test_gpt_no_grad_forward_gives_the_same_bits_as_the_graph(norm, act, bias, tie):
    """GPT.forward is the only forward: under no_grad it records no graph, and its logits and loss are the graph's
    bit for bit. The sampler's calls (KV cache, last position only) agree with the full forward to rounding."""
    g = small_gpt(dtype=np.float32, norm=norm, activation=act, bias=bias, tie_weights=tie)
    _jitter(g, 0.2)
    idx, tgt = rng(1).integers(0, 7, (2, 5)), rng(2).integers(0, 7, (2, 5))
    logits, loss = g(idx, tgt)
    with no_grad():
        logits2, loss2 = g(idx, tgt)
        last = g(idx, last_only=True)[0].data  # (B, 1, V)
        cache = g.new_cache(2)
        cached = np.concatenate([g(idx[:, :3], cache=cache)[0].data, g(idx[:, 3:], cache=cache)[0].data], axis=1)
        cache = g.new_cache(2)
        prompt_last = g(idx[:, :4], cache=cache, last_only=True)[0].data
        step_last = g(idx[:, 4:], cache=cache, last_only=True)[0].data
    np.testing.assert_array_equal(logits.data, logits2.data)
    assert loss.item() == loss2.item() and not logits2.requires_grad and logits2._node is None
    np.testing.assert_allclose(cached, logits.data, rtol=1e-5, atol=1e-6)
    assert last.shape == prompt_last.shape == step_last.shape == (2, 1, 7)
    for got, t in ((last, 4), (prompt_last, 3), (step_last, 4)):
        np.testing.assert_allclose(got[:, 0], logits.data[:, t], rtol=1e-5, atol=1e-6)


def test_gpt_last_only_refuses_targets_of_every_position():
    with pytest.raises(ModelConfigError, match=r"give targets \(B, 1\)"):
        small_gpt()(np.zeros((1, 3), dtype=np.int64), np.zeros((1, 3), dtype=np.int64), last_only=True)


def test_gpt_kv_cache_matches_full_forward():
    g = small_gpt(block_size=8)
    g.eval()
    idx = rng(1).integers(0, 7, (2, 8))
    with no_grad():
        full, _ = g(idx)
        cache = g.new_cache(2)
        step_logits = [g(idx[:, :3], cache=cache)[0].data]  # prefill 3, then one token at a time
        for t in range(3, 8):
            step_logits.append(g(idx[:, t : t + 1], cache=cache)[0].data)
    np.testing.assert_allclose(np.concatenate(step_logits, axis=1), full.data, rtol=1e-10, atol=1e-12)


def test_gpt_config_errors_name_the_fix():
    with pytest.raises(ModelConfigError, match="n_embd=10 is not divisible by n_head=4"):
        GPT(GPTConfig(vocab_size=10, n_embd=10, n_head=4), rng=rng())
    with pytest.raises(ModelConfigError, match="n_layer=0 must be a positive integer"):
        GPT(GPTConfig(vocab_size=10, n_layer=0), rng=rng())
    with pytest.raises(ModelConfigError, match="vocab_size=None must be a positive integer"):
        GPT(GPTConfig(), rng=rng())  # the data fields are set from the prepared data (models.for_data)
    g = small_gpt()
    with pytest.raises(ModelConfigError, match="sequence length 7 > block_size 6; crop"):
        g(np.zeros((1, 7), dtype=np.int64))


def test_rebuild_from_config_gives_same_architecture():
    for m in (small_gpt(), MLP(MLPConfig(vocab_size=9), rng=rng())):
        stored = dataclasses.asdict(m.config)  # what a checkpoint keeps
        clone = type(m)(type(m).Config(**stored), rng=rng(1), dtype=np.float64 if isinstance(m, GPT) else np.float32)
        assert [(n, p.shape) for n, p in clone.named_parameters()] == [(n, p.shape) for n, p in m.named_parameters()]


@pytest.mark.parametrize(
    "rung, key", [("transformer", "n_head"), ("transformer", "n_layer"), ("mlp", "n_hidden"), ("bigram", "order")]
)
def test_a_bool_is_not_a_size(rung, key):
    # found by the checkpoint fuzzer: n_head=True from a checkpoint's metadata reached a reshape as 1
    kwargs = {"vocab_size": 27, key: True}
    if rung != "bigram":
        kwargs["rng"] = np.random.default_rng(0)
    with pytest.raises(ModelConfigError, match=key):
        build_model(rung, **kwargs)
