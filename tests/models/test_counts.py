"""Every trained rung's Counts (models/base.py) against an independent count: parameters by walking the built model
(its arrays, its modules' types), FLOPs per token against the formula written out by hand on a tiny config."""

import numpy as np
import pytest

from lmladder import nn
from lmladder.models import ModelConfigError, build_model, rung_class
from lmladder.models.base import Counts
from lmladder.nn.future import FutureHeads
from lmladder.nn.lookback import CausalConv, Smear

SMEAR, SMEAR_5 = dict(enabled=True), dict(enabled=True, width=5)
CONFIGS = [
    ("mlp", dict(context=3, n_embd=4, n_hidden=6)),
    ("mlp", dict(context=2, n_embd=3, n_hidden=5, n_layers=3)),
    ("rnn", dict(cell="rnn", n_embd=4, n_hidden=6)),
    ("rnn", dict(cell="gru", n_embd=4, n_hidden=6, n_layer=2)),
    ("rnn", dict(cell="lstm", n_embd=3, n_hidden=5, n_layer=3)),
    ("bow", dict(block_size=5, n_embd=4, n_hidden=6)),
    ("wavenet", dict(context=8, n_embd=3, n_hidden=5)),
    ("wavenet", dict(context=2, n_embd=3, n_hidden=5)),
    ("transformer", dict(block_size=5, n_layer=2, n_head=2, n_embd=8)),
    ("transformer", dict(block_size=5, n_layer=2, n_head=2, n_embd=8, bias=True, tie_weights=False)),
    ("transformer", dict(block_size=5, n_layer=3, n_head=4, n_embd=8, pos="rope", norm="rmsnorm", bias=True)),
    ("transformer", dict(block_size=5, n_layer=3, n_head=4, n_embd=8, n_kv_head=2, value_embeds=True, qk_norm=True)),
    ("transformer", dict(block_size=5, n_layer=2, n_head=2, n_embd=8, lookback=dict(smear=SMEAR, ngram=dict(order=2)))),
    ("transformer", dict(block_size=5, n_layer=2, n_head=2, n_embd=8, lookback=dict(ngram=dict(order=4, buckets=100)))),
    ("transformer", dict(block_size=5, n_layer=2, n_head=2, n_embd=16, pos="rope", lookback=dict(smear=SMEAR_5))),
    ("transformer", dict(block_size=5, n_layer=2, n_head=2, n_embd=8, mtp=dict(heads=3), tie_weights=False)),
    (
        "transformer",
        dict(
            block_size=5,
            n_layer=3,
            n_head=2,
            n_embd=8,
            lookback=dict(conv=dict(kernel=4, at="abcd")),
            value_residual=True,
        ),
    ),
]


def independent(model) -> tuple[int, int, int]:
    """(all, non-embedding, matmul) from the built model: distinct arrays; minus every Embedding module's table
    (a head tied to one goes with it); the weight of every Linear module (a tied head counted again) and the
    recurrent layers' two weight matrices; the smear gate's, the future heads' and the convolutions' weights are
    multiply-adds per token too."""
    params = {id(p): p.size for p in model.parameters()}
    tables = {id(m.weight) for m in model.modules() if isinstance(m, nn.Embedding)}
    if getattr(model, "wpe", None) is not None:
        tables.add(id(model.wpe.weight))
    matmul = sum(m.weight.size for m in model.modules() if isinstance(m, nn.Linear | Smear | FutureHeads | CausalConv))
    for name, p in model.named_parameters():
        if name.endswith(("weight_ih", "weight_hh")):
            matmul += p.size
    return sum(params.values()), sum(v for k, v in params.items() if k not in tables), matmul


@pytest.mark.parametrize("rung, kw", CONFIGS, ids=[f"{r}-{i}" for i, (r, _) in enumerate(CONFIGS)])
def test_counts_match_the_built_model(rung, kw):
    model = build_model(rung, vocab_size=7, rng=np.random.default_rng(0), **kw)
    c = model.config.counts()
    assert isinstance(c, Counts)
    assert (c.params, c.non_embedding, c.matmul) == independent(model)
    assert c.params == model.num_parameters()
    assert c.params >= rung_class(rung).min_params(model.config)


def test_flops_per_token_by_hand():
    V = 5
    # GPT: C=4, 1 layer, T=3, tied: q,k,v 4x12, proj 4x4, MLP 4x16 + 16x4, head 5x4; attention 6 x 1 x 3 x 4
    gpt = rung_class("transformer").Config(vocab_size=V, block_size=3, n_layer=1, n_head=2, n_embd=4)
    assert gpt.counts().flops_per_token == 6 * (48 + 16 + 128 + 20) + 6 * 1 * 3 * 4 == 1344
    # GRU: E=2, H=3: W_ih 9x2, W_hh 9x3, head 3x5
    gru = rung_class("rnn").Config(vocab_size=V, cell="gru", n_embd=2, n_hidden=3)
    assert gru.counts().flops_per_token == 6 * (18 + 27 + 15) == 360
    # MLP: context 3 x E=2 -> H=4, head 4x5
    mlp = rung_class("mlp").Config(vocab_size=V, context=3, n_embd=2, n_hidden=4)
    assert mlp.counts().flops_per_token == 6 * (24 + 20) == 264
    # WaveNet context 8, E=2, H=3: levels (4x3, 6x3, 6x3) used 4, 2, 1 times per token, head 3x5
    wn = rung_class("wavenet").Config(vocab_size=V, context=8, n_embd=2, n_hidden=3)
    assert wn.counts().flops_per_token == 6 * (4 * 12 + 2 * 18 + 1 * 18 + 15) == 702
    assert wn.counts().matmul == 12 + 18 + 18 + 15  # each weight once: fewer than the multiply-adds
    # BoW: E=2, H=3: c_fc 2x3, c_proj 3x2, head 2x5
    bow = rung_class("bow").Config(vocab_size=V, block_size=4, n_embd=2, n_hidden=3)
    assert bow.counts().flops_per_token == 6 * (6 + 6 + 10) == 132


def test_counts_need_the_vocabulary():
    with pytest.raises(ModelConfigError, match="needs vocab_size"):
        rung_class("mlp").Config().counts()
