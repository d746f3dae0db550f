"""Stochastic depth (transformer.model.drop_path, issue 49): each residual branch dropped whole per sample in
training, the identity in eval, its masks drawn from the model's generator, and nothing drawn when it is off."""

import numpy as np
import pytest

from lmladder.autograd import gradcheck, no_grad
from lmladder.autograd.engine import Tensor
from lmladder.export.gpt2 import HF_ACTIVATIONS, check_gpt2
from lmladder.models import ModelConfigError
from lmladder.models.transformer import GPT, GPTConfig
from lmladder.nn import DropPath
from tests.models import ENTRIES


def gpt(dtype=np.float64, **kw):
    args = dict(vocab_size=7, block_size=8, n_layer=3, n_head=2, n_embd=8, pos="rope", zero_init_proj=False)
    return GPT(GPTConfig(**{**args, **kw}), rng=np.random.default_rng(0), dtype=dtype)


def test_a_branch_is_dropped_or_kept_whole_per_sample_and_scaled_to_keep_its_mean():
    layer = DropPath(0.25, rng=np.random.default_rng(3))
    x = Tensor(np.ones((4000, 3, 5)))
    y = layer(x).data
    kept = y[:, 0, 0] > 0
    assert set(np.unique(y)) == {0.0, 1 / 0.75}
    assert (y == y[:, :1, :1]).all()  # one decision per sample
    assert abs(kept.mean() - 0.75) < 0.03
    layer.eval()
    assert layer(x) is x


def test_the_rate_rises_linearly_from_the_first_block_to_drop_path_at_the_last():
    assert [b.drop_path.p for b in gpt(drop_path=0.2).blocks] == pytest.approx([0.0, 0.1, 0.2])
    assert [b.drop_path.p for b in gpt(drop_path=0.3, n_layer=1).blocks] == [0.0]


def test_the_gpt_gradchecks_with_its_masks_fixed():
    g = gpt(drop_path=0.5)
    rng = g.blocks[1].drop_path.rng
    state = rng.bit_generator.state
    idx, tgt = np.random.default_rng(1).integers(0, 7, (6, 5)), np.random.default_rng(2).integers(0, 7, (6, 5))

    def loss():
        rng.bit_generator.state = state  # the same masks on every call
        return g(idx, tgt)[1]

    assert gradcheck(loss, [], params=g.parameters(), name="GPT[drop_path]", atol=1e-5, elements=ENTRIES)
    with no_grad():
        g.eval()
        assert np.array_equal(g(idx)[0].data, gpt(drop_path=0.0)(idx)[0].data)  # eval: the model without it


def test_training_draws_masks_only_when_it_is_on():
    idx = np.random.default_rng(1).integers(0, 7, (4, 8))
    for p, draws in ((0.0, False), (0.3, True)):
        g = gpt(drop_path=p)
        rng = g.blocks[0].drop_path.rng
        before = rng.bit_generator.state["state"]["state"]
        g(idx, idx)
        assert (rng.bit_generator.state["state"]["state"] != before) is draws


def test_a_rate_outside_zero_to_one_names_the_field():
    with pytest.raises(ModelConfigError, match=r"drop_path=1.0 must be in \[0, 1\)"):
        gpt(drop_path=1.0)


def test_a_model_trained_with_it_exports_to_gpt2s_layout():
    g = gpt(drop_path=0.2, pos="learned", activation="gelu")  # eval computes GPT-2's function: nothing to refuse
    assert check_gpt2(g, "hf", HF_ACTIVATIONS).drop_path == 0.2
