"""The count n-gram model: the team's reference bigram NLLs, two estimator paths agreeing, add-k equal bit for bit
to the dense table it replaced, config, state and bad input. Kneser-Ney: test_ngram_kneser_ney.py."""

import dataclasses
import math

import numpy as np
import pytest

from lmladder.autograd import functional as F
from lmladder.data import contexts, eval_batches
from lmladder.data.batching import IGNORE_INDEX, context_windows
from lmladder.inference import generate, score_tokens
from lmladder.models import ModelConfigError, build_model
from lmladder.models.bigram import NGram, NGramConfig
from lmladder.nn.module import StateDictError


def fitted(prepared, order=2, **config):
    b = prepared.boundary_id
    m = NGram(NGramConfig(order, vocab_size=prepared.vocab_size, pad_id=b or 0, boundary_id=b, **config))
    return m.fit(prepared.splits["train"])


def nll_direct(m, tokens):
    """Every target of `tokens` scored in one forward row: the contexts are those of `contexts`."""
    tokens = np.asarray(tokens, dtype=np.int64)
    logits, _ = m(tokens[None, :-1])
    return -logits.data[0, np.arange(len(tokens) - 1), tokens[1:]].mean(), len(tokens) - 1


def nll_batches(m, prepared, split, seq_len):
    total, count = 0.0, 0
    batches = eval_batches(
        prepared.splits[split],
        kind=prepared.kind,
        boundary_id=prepared.boundary_id,
        seq_len=seq_len,
        batch_size=64,
    )
    for x, y in batches:
        logits, _ = m(x)
        total += F.cross_entropy(logits, y, ignore_index=IGNORE_INDEX, reduction="sum").item()
        count += int((y != IGNORE_INDEX).sum())
    return total / count, count


def dense_add_k(tokens, order, V, k, pad_id, boundary_id):
    """The dense (V ** (order-1), V) log-prob table the sparse counts replaced, verbatim (Jurafsky & Martin ch. 3)."""
    ctx, tgt = contexts(tokens, order - 1, pad_id, boundary_id)
    flat = np.zeros(len(tgt), dtype=np.int64)
    for j in range(order - 1):
        flat = flat * V + ctx[:, j]
    counts = np.bincount(flat * V + tgt, minlength=V**order).astype(np.float64)
    c = counts.reshape(-1, V) + k
    total = c.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        logp = np.where(c > 0, np.log(c / np.where(total > 0, total, 1)), -1e30)
    logp[total[:, 0] == 0] = -np.log(V)
    return logp


def test_names_bigram_reference(names_prepared):
    m = fitted(names_prepared)
    nll, n = nll_direct(m, names_prepared.splits["val"])
    assert n == 22_655 and nll == pytest.approx(2.4533, abs=1e-4)
    nll2, n2 = nll_batches(m, names_prepared, "val", seq_len=32)
    assert n2 == n and nll2 == pytest.approx(nll, abs=1e-9)


def test_shakespeare_bigram_reference(shakespeare_prepared):
    m = fitted(shakespeare_prepared)
    nll, n = nll_direct(m, shakespeare_prepared.splits["val"])
    assert n == 111_539 and nll == pytest.approx(2.4819, abs=1e-4)
    nll2, n2 = nll_batches(m, shakespeare_prepared, "val", seq_len=64)
    assert n2 == n and nll2 == pytest.approx(nll, abs=1e-9)


@pytest.mark.parametrize("order", [1, 2, 3, 4])
@pytest.mark.parametrize("k", [1.0, 0.5, 0.1, 0.0])
def test_add_k_is_the_dense_table_bit_for_bit(names_prepared, order, k):
    p, b = names_prepared, names_prepared.boundary_id
    m = fitted(p, order, k=k)
    table = dense_add_k(p.splits["train"], order, p.vocab_size, k, b, b)
    x = np.asarray(p.splits["val"][:2001], dtype=np.int64).reshape(1, -1)  # crosses ~300 name boundaries
    x = np.concatenate([x, np.random.default_rng(order).integers(0, p.vocab_size, x.shape)])  # and unseen contexts
    ctx = context_windows(x, order - 1, b, b)  # (2, T, order-1)
    flat = np.zeros(x.shape, dtype=np.int64)
    for j in range(order - 1):
        flat = flat * p.vocab_size + ctx[..., j]
    np.testing.assert_array_equal(m(x)[0].data, table[flat])


def test_counts_and_forward_loss(names_prepared):
    m = fitted(names_prepared)
    train = names_prepared.splits["train"]
    assert m.counts.sum() == len(train) - 1 and len(m.keys) <= 27 * 27 and m.levels[0].tolist() == list(range(27))
    assert 0 not in m.keys  # no empty names: the boundary never follows itself
    x, y = np.array([[0, 5, 13, 13, 1]]), np.array([[5, 13, 13, 1, 0]])  # ".emma" -> "emma."
    logits, loss = m(x, y)
    assert logits.shape == (1, 5, 27) and not logits.requires_grad and m.parameters() == []
    np.testing.assert_allclose(np.exp(logits.data).sum(-1), 1.0)
    assert loss.item() == pytest.approx(-logits.data[0, np.arange(5), y[0]].mean())


def test_higher_orders_beat_lower_on_train(names_prepared, shakespeare_prepared):
    for p in (names_prepared, shakespeare_prepared):
        part = p.splits["train"][:100_000]
        tri, bi = fitted(p, order=3), fitted(p, order=2)
        assert nll_direct(tri, part)[0] < nll_direct(bi, part)[0] - 0.1
    uni = fitted(names_prepared, order=1)
    assert uni.levels == [] and nll_direct(uni, names_prepared.splits["val"])[0] > 2.8


def test_trigram_forward_agrees_with_contexts(names_prepared):
    m = fitted(names_prepared, order=3)
    nll, n = nll_direct(m, names_prepared.splits["val"])
    assert nll_batches(m, names_prepared, "val", seq_len=32) == (pytest.approx(nll, abs=1e-9), n)


def test_unsmoothed_unseen_pair_is_huge_but_never_nan():
    m = NGram(NGramConfig(order=2, k=0.0, vocab_size=3)).fit(np.array([0, 1, 0, 1]))  # 0->1, 1->0; context 2 never
    _, loss = m(np.array([[0, 0]]), np.array([[1, 0]]))  # 0 -> 0 never seen
    assert np.isfinite(loss.item()) and loss.item() > 1e29
    _, loss = m(np.array([[0, 1]]), np.array([[1, IGNORE_INDEX]]))  # the ignored position scores nothing
    assert loss.item() == pytest.approx(0.0)
    np.testing.assert_allclose(m(np.array([[2]]))[0].data[0, 0], np.log(1 / 3))  # unseen context: uniform


def test_unsmoothed_unseen_pair_scores_infinite_perplexity_and_samples(tmp_path):
    m = NGram(NGramConfig(order=2, k=0.0, vocab_size=5)).fit(np.array([0, 1, 2, 0, 1, 2, 0, 1]))
    val = np.array([0, 1, 3, 4, 2, 0, 1])  # 1 -> 3 never seen (probability 0); context 3 never seen (uniform)
    s = score_tokens(m, val, boundary_id=None)
    assert s["nll"] == s["ppl"] == s["bpc"] == math.inf and s["impossible_tokens"] == 1
    assert "impossible_tokens" not in score_tokens(m, val[:2], boundary_id=None)  # 0 -> 1: seen
    rows = generate(m, np.array([[3], [0]]), 6, rng=np.random.default_rng(0), temperature=0.5)
    assert all(r.min() >= 0 and r.max() < 5 for r in rows)


def test_a_tiny_k_never_gives_minus_infinity():
    m = NGram(NGramConfig(order=2, k=1e-320, vocab_size=3)).fit(np.array([0, 1, 0, 1]))
    logp = m(np.array([[0, 1, 2]]))[0].data
    assert np.isfinite(logp).all() and logp[0, 0, 0] < -700


def test_config_registry_and_state_dict():
    m = build_model("bigram", vocab_size=5, order=3, k=0.5, pad_id=0, boundary_id=0, rng=np.random.default_rng())
    assert isinstance(m, NGram) and m.trainable is False and m.block_size is None
    assert NGram(NGramConfig(**dataclasses.asdict(m.config))).config == m.config
    m.fit(np.array([0, 1, 2, 0, 3, 4, 0]))
    assert sorted(m.state_dict()) == ["context1", "context2", "counts", "ngrams"]
    other = NGram(m.config)
    other.load_state_dict({k: v.copy() for k, v in m.state_dict().items()})
    x = np.array([[0, 1, 2, 3, 4, 0, 2]])
    np.testing.assert_array_equal(other(x)[0].data, m(x)[0].data)
    with pytest.raises(StateDictError, match=r"expected keys \['context1', 'context2', 'counts', 'ngrams'\], got"):
        other.load_state_dict({"counts": np.zeros((5, 5))})


def tampered(state, name, fn):
    return {k: (fn(v.copy()) if k == name else v.copy()) for k, v in state.items()}


@pytest.mark.parametrize(
    "name, fn, message",
    [
        ("ngrams", lambda a: a[::-1], "ngrams is not strictly increasing"),
        ("context1", lambda a: a[::-1], "context1 is not strictly increasing"),
        ("context2", lambda a: a + 10_000, "context2 points at context"),
        ("ngrams", lambda a: a * 0 - 1 - np.arange(len(a))[::-1], "ngrams is not strictly increasing from >= 0"),
        ("counts", lambda a: a - a.max(), "counts must be >= 1"),
        ("counts", lambda a: a[:-1], "counts for .* ngrams; they pair up"),
        ("counts", lambda a: a.astype(np.float64), "counts must be 1-D int64, got float64"),
        ("ngrams+counts", lambda a: a[:1], "ngrams leaves contexts of the level below unused"),
    ],
)
def test_tampered_arrays_are_refused(name, fn, message):
    m = NGram(NGramConfig(order=3, vocab_size=5)).fit(np.random.default_rng(0).integers(0, 5, 200))
    state = m.state_dict()
    for part in name.split("+"):
        state = tampered(state, part, fn)
    with pytest.raises(StateDictError, match=message) as e:
        NGram(m.config).load_state_dict(state)
    assert "\n" not in str(e.value)


def test_bad_configs_and_inputs():
    with pytest.raises(ModelConfigError, match=r"order=20 exceeds 16: fitting needs about .* GB for 1M tokens"):
        NGram(NGramConfig(vocab_size=65, order=20))
    with pytest.raises(ModelConfigError, match=r"order=1e\+18|order=1000000000000000000 exceeds 16"):
        NGram(NGramConfig(vocab_size=65, order=10**18))
    with pytest.raises(ModelConfigError, match="order=0 must be a positive integer"):
        NGram(NGramConfig(vocab_size=10, order=0))
    with pytest.raises(ModelConfigError, match="smoothing='witten_bell'; choose one of add_k, kneser_ney"):
        NGram(NGramConfig(vocab_size=10, smoothing="witten_bell"))
    for k in (-1, float("nan"), float("inf"), True, "1"):
        with pytest.raises(ModelConfigError, match=r"k=.* must be a finite number >= 0"):
            NGram(NGramConfig(vocab_size=10, k=k))
    for d in (0, 1, 1.5, -0.1, float("nan"), True):
        with pytest.raises(ModelConfigError, match=r"discount=.* must be in \(0, 1\), or null"):
            NGram(NGramConfig(vocab_size=10, smoothing="kneser_ney", discount=d))
    with pytest.raises(ModelConfigError, match=r"pad_id=10 outside the vocabulary \[0, 10\)"):
        NGram(NGramConfig(vocab_size=10, pad_id=10))
    m = NGram(NGramConfig(vocab_size=4))
    with pytest.raises(ModelConfigError, match=r"ids span \[0, 7\] outside \[0, 4\)"):
        m(np.array([[0, 7]]))
    with pytest.raises(ModelConfigError, match=r"token ids span \[0, 9\] but vocab_size=4"):
        m.fit(np.array([0, 9]))
    with pytest.raises(ModelConfigError, match=r"shape \(B, T\)"):
        m(np.array([0, 1]))
