"""The modern transformer options of GPTConfig: each gradchecks, decodes with the KV cache exactly as without it,
and refuses impossible settings with the field and the fix."""

import numpy as np
import pytest

from lmladder.autograd import gradcheck, no_grad
from lmladder.models import ModelConfigError
from lmladder.models.transformer import GPT, GPTConfig
from tests.models import ENTRIES

OPTIONS = {
    "rope": dict(pos="rope"),
    "rope base 100": dict(pos="rope", rope_base=100.0),
    "qk_norm": dict(qk_norm=True),
    "relu2": dict(activation="relu2"),
    "softcap": dict(logit_softcap=3.0),
    "value_embeds": dict(value_embeds=True),
    "gqa": dict(n_kv_head=1),
    "untied": dict(tie_weights=False),
    "smear": dict(lookback=dict(smear=dict(enabled=True))),
    "smear width 3": dict(lookback=dict(smear=dict(enabled=True, width=3))),
    "bigram": dict(lookback=dict(ngram=dict(order=2))),
    "ngram": dict(lookback=dict(ngram=dict(order=4, buckets=60))),  # order 2 exact (56 rows), orders 3 and 4 hashed
    "mtp": dict(mtp=dict(heads=2, weight=0.5)),
    "conv": dict(lookback=dict(conv=dict(kernel=3))),
    "conv wider than the prompt": dict(lookback=dict(conv=dict(kernel=6))),  # the cache's first call feeds 3 tokens
    "all": dict(
        pos="rope", qk_norm=True, activation="relu2", logit_softcap=5.0, value_embeds=True, n_kv_head=1,
        tie_weights=False, norm="rmsnorm", mtp=dict(heads=3),
        lookback=dict(smear=dict(enabled=True), ngram=dict(order=3), conv=dict(kernel=2)),
    ),
}  # fmt: skip


def gpt(dtype=np.float64, **kw):
    args = dict(vocab_size=7, block_size=8, n_layer=2, n_head=2, n_embd=8)
    args.update(kw)
    g = GPT(GPTConfig(**args), rng=np.random.default_rng(0), dtype=dtype)
    r = np.random.default_rng(42)
    for p in g.parameters():  # off the init (zero projections, unit gains), so every path carries signal
        p.data += 0.2 * r.standard_normal(p.shape)
    return g


@pytest.mark.parametrize("name", OPTIONS)
def test_whole_gpt_gradchecks_with_each_option(name):
    g = gpt(**OPTIONS[name])
    idx, tgt = np.random.default_rng(1).integers(0, 7, (2, 5)), np.random.default_rng(2).integers(0, 7, (2, 5))
    assert gradcheck(
        lambda: g(idx, tgt)[1], [], params=g.parameters(), name=f"GPT[{name}]", atol=1e-5, elements=ENTRIES
    )


@pytest.mark.parametrize("name", OPTIONS)
def test_kv_cache_decoding_equals_the_full_forward(name):
    g = gpt(**OPTIONS[name])
    idx = np.random.default_rng(1).integers(0, 7, (2, 8))
    with no_grad():
        full = g(idx)[0].data
        cache = g.new_cache(2)
        steps = [g(idx[:, :3], cache=cache)[0].data] + [g(idx[:, t : t + 1], cache=cache)[0].data for t in range(3, 8)]
    np.testing.assert_allclose(np.concatenate(steps, axis=1), full, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", ["rope", "gqa", "smear", "bigram", "ngram", "conv", "all"])
def test_greedy_generation_is_the_same_with_and_without_the_cache(name):
    g = gpt(np.float32, **OPTIONS[name])
    prompt = np.array([[1, 2]])
    with no_grad():
        uncached = prompt
        for _ in range(6):  # the whole sequence each step
            nxt = g(uncached, last_only=True)[0].data[:, -1].argmax(-1)
            uncached = np.concatenate([uncached, nxt[:, None]], axis=1)
        cache, cached = g.new_cache(1), prompt
        logits = g(prompt, cache=cache, last_only=True)[0].data
        for _ in range(6):  # one token per step
            nxt = logits[:, -1].argmax(-1)
            cached = np.concatenate([cached, nxt[:, None]], axis=1)
            logits = g(nxt[:, None], cache=cache, last_only=True)[0].data
    np.testing.assert_array_equal(cached, uncached)


def test_options_that_change_no_shape_keep_the_parameter_count_and_the_others_add_theirs():
    base = gpt().num_parameters()
    assert gpt(qk_norm=True).num_parameters() == gpt(activation="relu2").num_parameters() == base
    assert gpt(pos="rope").num_parameters() == base - 8 * 8  # no position table
    assert gpt(n_kv_head=1).num_parameters() == base - 2 * 2 * 8 * 4  # k and v lose a head of 4 in both layers
    assert gpt(value_embeds=True).num_parameters() == base + 7 * 8  # one table, on the last layer of 2
    for kw in OPTIONS.values():  # min_params stays a lower bound (checkpoint validation relies on it)
        g = gpt(**kw)
        assert GPT.min_params(g.config) <= g.num_parameters()


def test_zero_init_proj_starts_every_block_as_the_identity():
    g = GPT(GPTConfig(vocab_size=7, n_layer=2, n_head=2, n_embd=8, zero_init_proj=True), rng=np.random.default_rng(0))
    for blk in g.blocks:
        assert not blk.attn.c_proj.weight.data.any() and not blk.mlp.c_proj.weight.data.any()
    assert g.blocks[0].attn.c_attn.weight.data.any()


def test_softcap_bounds_the_logits():
    g = gpt(logit_softcap=2.0)
    with no_grad():
        logits = g(np.random.default_rng(1).integers(0, 7, (2, 8)))[0].data
    assert np.abs(logits).max() < 2.0


@pytest.mark.parametrize(
    "kw, message",
    [
        (dict(pos="rope", n_embd=6, n_head=2), "pos=rope needs an even head size: n_embd=6 / n_head=2 = 3"),
        (dict(n_head=4, n_kv_head=3), "n_kv_head=3 does not divide n_head=4"),
        (dict(value_embeds=True, n_layer=1), "value_embeds=true needs n_layer >= 2"),
        (dict(pos="absolute"), "pos='absolute'; choose one of learned, rope"),
        (dict(logit_softcap=0.0), "logit_softcap=0.0 must be a finite number > 0, or null"),
        (dict(n_kv_head=0), "n_kv_head=0 must be a positive integer"),
        (dict(rope_base=1.0), "rope_base=1.0 must be a finite number > 1"),
        (
            dict(lookback=dict(smear=dict(enabled=True, width=9))),
            "lookback.smear.width=9 exceeds n_embd=8 .*; set lookback.smear.width <= n_embd, or null",
        ),
        (dict(lookback=dict(smear=dict(width=0))), "lookback.smear.width=0 must be a positive integer"),
        (dict(lookback=dict(smear=dict(enabled="yes"))), "lookback.smear.enabled='yes' must be true or false"),
        (dict(lookback=dict(ngram=dict(order=1))), "lookback.ngram.order=1 is the token embedding itself"),
        (dict(lookback=dict(ngram=dict(order=9))), r"lookback.ngram.order=9 must be an integer in \[0, 8\]"),
        (dict(lookback=dict(conv=dict(kernel=1))), "lookback.conv.kernel=1 reads no earlier position"),
        (dict(lookback=4), "lookback=4 must be a map of smear, ngram, conv"),
        (dict(mtp=dict(heads=2, weight=-1.0)), "mtp.weight=-1.0 must be a finite number > 0"),
    ],
)
def test_impossible_settings_name_the_field_and_the_fix(kw, message):
    with pytest.raises(ModelConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        GPT(GPTConfig(**{"vocab_size": 7, "n_embd": 8, "n_head": 2, "n_layer": 2, **kw}), rng=np.random.default_rng(0))
