"""The count n-gram model: the team's reference bigram NLLs, two estimator paths agreeing, config and state."""

import dataclasses

import numpy as np
import pytest

from lmladder.autograd import functional as F
from lmladder.data import contexts, eval_batches
from lmladder.data.batching import IGNORE_INDEX
from lmladder.models import ModelConfigError, build_model
from lmladder.models.ngram import NGram, NGramConfig
from lmladder.nn.module import StateDictError


def fitted(prepared, order=2, smoothing=1.0):
    b = prepared.boundary_id
    m = NGram(NGramConfig(order, smoothing, vocab_size=prepared.vocab_size, pad_id=b or 0, boundary_id=b))
    return m.fit(prepared.splits["train"])


def nll_direct(m, tokens):
    ctx, tgt = contexts(tokens, m.order - 1, m.pad_id, m.boundary_id)
    return -m.log_probs()[m._flat(ctx), tgt].mean(), len(tgt)


def nll_batches(m, prepared, split, block_size):
    total, count = 0.0, 0
    batches = eval_batches(
        prepared.splits[split],
        kind=prepared.kind,
        boundary_id=prepared.boundary_id,
        block_size=block_size,
        batch_size=64,
    )
    for x, y in batches:
        logits, _ = m(x)
        total += F.cross_entropy(logits, y, ignore_index=IGNORE_INDEX, reduction="sum").item()
        count += int((y != IGNORE_INDEX).sum())
    return total / count, count


def test_names_bigram_reference(names_prepared):
    m = fitted(names_prepared)
    nll, n = nll_direct(m, names_prepared.splits["val"])
    assert n == 22_655 and nll == pytest.approx(2.4533, abs=1e-4)
    nll2, n2 = nll_batches(m, names_prepared, "val", block_size=32)
    assert n2 == n and nll2 == pytest.approx(nll, abs=1e-9)


def test_shakespeare_bigram_reference(shakespeare_prepared):
    m = fitted(shakespeare_prepared)
    nll, n = nll_direct(m, shakespeare_prepared.splits["val"])
    assert n == 111_539 and nll == pytest.approx(2.4819, abs=1e-4)
    nll2, n2 = nll_batches(m, shakespeare_prepared, "val", block_size=64)
    assert n2 == n and nll2 == pytest.approx(nll, abs=1e-9)


def test_counts_and_forward_loss(names_prepared):
    m = fitted(names_prepared)
    train = names_prepared.splits["train"]
    assert m.counts.sum() == len(train) - 1 and m.counts.shape == (27, 27)
    assert m.counts[0, 0] == 0  # no empty names: the boundary never follows itself
    x, y = np.array([[0, 5, 13, 13, 1]]), np.array([[5, 13, 13, 1, 0]])  # ".emma" -> "emma."
    logits, loss = m(x, y)
    assert logits.shape == (1, 5, 27) and not logits.requires_grad and m.parameters() == []
    np.testing.assert_allclose(np.exp(logits.data).sum(-1), 1.0)
    assert loss.item() == pytest.approx(-m.log_probs()[x[0], y[0]].mean())


def test_trigram_beats_bigram_on_train(names_prepared, shakespeare_prepared):
    for p in (names_prepared, shakespeare_prepared):
        tri, bi = fitted(p, order=3), fitted(p, order=2)
        assert tri.counts.shape == (p.vocab_size,) * 3
        assert nll_direct(tri, p.splits["train"])[0] < nll_direct(bi, p.splits["train"])[0] - 0.1
    uni = fitted(names_prepared, order=1)
    assert uni.counts.shape == (27,) and nll_direct(uni, names_prepared.splits["val"])[0] > 2.8


def test_trigram_forward_agrees_with_contexts(names_prepared):
    m = fitted(names_prepared, order=3)
    nll, n = nll_direct(m, names_prepared.splits["val"])
    assert nll_batches(m, names_prepared, "val", block_size=32) == (pytest.approx(nll, abs=1e-9), n)


def test_unsmoothed_unseen_pair_is_huge_but_never_nan():
    m = NGram(NGramConfig(order=2, smoothing=0.0, vocab_size=3)).fit(
        np.array([0, 1, 0, 1])
    )  # only 0->1 and 1->0 seen; context 2 never
    _, loss = m(np.array([[0, 0]]), np.array([[1, 0]]))  # 0 -> 0 never seen
    assert np.isfinite(loss.item()) and loss.item() > 1e29
    _, loss = m(np.array([[0, 1]]), np.array([[1, IGNORE_INDEX]]))  # the ignored position scores nothing
    assert loss.item() == pytest.approx(0.0)
    np.testing.assert_allclose(m.log_probs()[2], np.log(1 / 3))  # an unseen context falls back to uniform


def test_config_registry_and_state_dict():
    m = build_model("ngram", vocab_size=5, order=3, smoothing=0.5, pad_id=0, boundary_id=0, rng=np.random.default_rng())
    assert isinstance(m, NGram) and m.trainable is False and m.block_size is None
    assert NGram(NGramConfig(**dataclasses.asdict(m.config))).config == m.config
    m.fit(np.array([0, 1, 2, 0, 3, 4, 0]))
    other = NGram(m.config)
    other.load_state_dict({k: v.copy() for k, v in m.state_dict().items()})
    np.testing.assert_array_equal(other.log_probs(), m.log_probs())
    with pytest.raises(StateDictError, match=r"counts shape expected \(5, 5, 5\), got \(5, 5\)"):
        other.load_state_dict({"counts": np.zeros((5, 5))})
    with pytest.raises(StateDictError, match=r"expected keys \['counts'\], got \['weight'\]"):
        other.load_state_dict({"weight": np.zeros((5, 5, 5))})


def test_bad_configs_and_inputs():
    with pytest.raises(ModelConfigError, match=r"65\*\*5 = 1.16e\+09 dense counts exceeds 5e\+07; use order <= 4"):
        NGram(NGramConfig(vocab_size=65, order=5))
    with pytest.raises(ModelConfigError, match="order=0 must be a positive integer"):
        NGram(NGramConfig(vocab_size=10, order=0))
    with pytest.raises(ModelConfigError, match="smoothing=-1 must be >= 0"):
        NGram(NGramConfig(vocab_size=10, smoothing=-1))
    with pytest.raises(ModelConfigError, match=r"pad_id=10 outside the vocabulary \[0, 10\)"):
        NGram(NGramConfig(vocab_size=10, pad_id=10))
    m = NGram(NGramConfig(vocab_size=4))
    with pytest.raises(ModelConfigError, match=r"ids span \[0, 7\] outside \[0, 4\)"):
        m(np.array([[0, 7]]))
    with pytest.raises(ModelConfigError, match=r"token ids span \[0, 9\] but vocab_size=4"):
        m.fit(np.array([0, 9]))
    with pytest.raises(ModelConfigError, match=r"shape \(B, T\)"):
        m(np.array([0, 1]))
