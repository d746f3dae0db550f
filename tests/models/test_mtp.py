"""Multi-token prediction (transformer.model.mtp.*, issue 49): a training loss only. The training forward adds the
mean cross-entropy of heads predicting 2..k+1 tokens ahead, checked here against a softmax written out in NumPy;
evaluation, scoring and export see the model without it; the heads go to AdamW, not Muon."""

import numpy as np
import pytest

from lmladder import nn
from lmladder.data.batching import IGNORE_INDEX
from lmladder.export.gpt2 import HF_ACTIVATIONS, check_gpt2, hf_state_dict
from lmladder.models import ModelConfigError
from lmladder.models.transformer import GPT, GPTConfig


def gpt(**kw):
    args = dict(vocab_size=7, block_size=8, n_layer=2, n_head=2, n_embd=8, pos="rope", zero_init_proj=False)
    return GPT(GPTConfig(**{**args, **kw}), rng=np.random.default_rng(0), dtype=np.float64)


def nll(logits: np.ndarray, targets: np.ndarray) -> float:
    """Mean NLL over targets that are not IGNORE_INDEX, by log-sum-exp."""
    z = logits - logits.max(-1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(-1, keepdims=True))
    keep = targets != IGNORE_INDEX
    return float(-np.take_along_axis(logp, np.where(keep, targets, 0)[..., None], -1)[..., 0][keep].mean())


def test_the_training_loss_adds_the_weighted_mean_of_the_future_heads():
    g = gpt(mtp=dict(heads=3, weight=0.4))
    g.future.weight.data[...] = np.random.default_rng(5).standard_normal(g.future.weight.shape)
    idx = np.random.default_rng(1).integers(0, 7, (3, 8))
    tgt = np.random.default_rng(2).integers(0, 7, (3, 8))
    tgt[0, 5:] = IGNORE_INDEX  # padding: no loss at those positions, for any head
    hidden = []
    g.ln_f.forward = lambda x, f=g.ln_f.forward: hidden.append(f(x)) or hidden[-1]  # keep the final norm's output
    logits, loss = g(idx, tgt)
    h = hidden[0].data
    heads = [nll(h[:, :-j] @ g.future.weight.data[j - 1].T, tgt[:, j:]) for j in (1, 2, 3)]
    assert float(loss.data) == pytest.approx(nll(logits.data, tgt) + 0.4 * np.mean(heads), rel=1e-12)


def test_evaluation_is_the_model_without_it_and_nothing_is_drawn_at_init():
    with_, without = gpt(mtp=dict(heads=2)), gpt()
    a, b = with_.state_dict(), without.state_dict()
    assert set(a) - set(b) == {"future.weight"}
    assert all(np.array_equal(a[k], b[k]) for k in b)
    with_.future.weight.data[...] = 1.0
    idx = np.random.default_rng(1).integers(0, 7, (2, 8))
    with with_.evaluating(), without.evaluating():
        (la, sa), (lb, sb) = with_(idx, idx), without(idx, idx)
    assert np.array_equal(la.data, lb.data) and float(sa.data) == float(sb.data)


def test_the_heads_are_trained_by_adamw_not_muon():
    g = gpt(mtp=dict(heads=2))
    assert all(p is not g.future.weight for p in nn.hidden_matrices(g))
    assert g.future.weight.shape == (2, 7, 8)


def test_a_model_trained_with_it_exports_to_gpt2s_layout_without_the_heads():
    g = gpt(mtp=dict(heads=2), pos="learned", activation="gelu")
    assert check_gpt2(g, "hf", HF_ACTIVATIONS).mtp.heads == 2
    assert not any("future" in k for k in hf_state_dict(g))


@pytest.mark.parametrize(
    "kw, message",
    [
        (
            dict(mtp=dict(heads=8)),
            r"mtp.heads=8 predicts 9 tokens ahead, and windows of block_size=8 .* set mtp.heads < block_size",
        ),
        (dict(mtp=dict(heads=9), block_size=16), r"mtp.heads=9 must be an integer in \[0, 8\]"),
        (dict(mtp=dict(heads=1, weight=0.0)), r"mtp.weight=0.0 must be a finite number > 0"),
    ],
)
def test_bad_values_name_the_field_and_the_fix(kw, message):
    with pytest.raises(ModelConfigError, match=message):
        gpt(**kw)
