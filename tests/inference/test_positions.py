"""Loss against position (inference/positions.py) and per-token details (inference/tokens.py): the per-token NLLs
sum to the exact scoring's total, the position curve weighted by its counts is the NLL of its own scoring (the
split's exact NLL for names), and "context used" reads the binned curve."""

import numpy as np
import pytest

from lmladder.inference.positions import PositionCurve, position_curve
from lmladder.inference.scoring import score_tokens
from lmladder.inference.tokens import token_scores
from lmladder.models import for_data, rung_class
from tests.ladder import small_config


def bigram(data, order=2):
    cls = rung_class("bigram")
    model = cls(for_data(cls.Config(order=order), data), rng=np.random.default_rng(0))
    model.fit(np.asarray(data.splits["train"]))
    return model


def gpt(data, block_size=8):
    cls = rung_class("transformer")
    return cls(small_config("transformer", data.vocab_size, block_size=block_size), rng=np.random.default_rng(0))


@pytest.mark.parametrize("make", [bigram, gpt])
@pytest.mark.parametrize("corpus", ["tiny_names", "tiny_stream"])
def test_per_token_nlls_sum_to_the_exact_total(make, corpus, request):
    data = request.getfixturevalue(corpus)
    model, val = make(data), data.splits["val"]
    exact = score_tokens(model, val, boundary_id=data.boundary_id)
    got = token_scores(model, val, boundary_id=data.boundary_id)
    assert not np.isnan(got.nll).any() and len(got.nll) == exact["tokens"]
    assert got.nll.sum() / len(got.nll) == pytest.approx(exact["nll"], rel=1e-6)  # float32 batch sums: round-off
    # the probability of the target is exp(-NLL), and the best guess is at least that likely
    assert (got.top_p[:, 0] >= np.exp(-got.nll) * (1 - 1e-4)).all()
    assert np.allclose(got.top_p.sum(axis=1) <= 1 + 1e-9, True)
    assert (np.diff(got.top_p, axis=1) <= 0).all()


@pytest.mark.parametrize("make", [bigram, lambda data: gpt(data, block_size=32)])
def test_names_curve_weighted_by_counts_is_the_split_nll(make, tiny_names):
    """Every name fits the window (a GPT of 32 positions): each is scored once, from its start, both ways."""
    model, val = make(tiny_names), tiny_names.splits["val"]
    curve = position_curve(model, val, boundary_id=tiny_names.boundary_id)
    exact = score_tokens(model, val, boundary_id=tiny_names.boundary_id)
    assert curve.count.sum() == exact["tokens"]
    assert curve.mean_nll == pytest.approx(exact["nll"], rel=1e-6)
    assert np.nansum(curve.mean * curve.count) / curve.count.sum() == pytest.approx(exact["nll"], rel=1e-6)


def test_stream_curve_is_the_exact_score_of_each_window(tiny_stream):
    """A stream is cut into windows of T predictions: each window scored alone by score_tokens (T + 1 tokens: one
    row, every column scored with exactly its left context in the window) adds up to the curve."""
    model, val, T = gpt(tiny_stream), np.asarray(tiny_stream.splits["val"]), 8
    curve = position_curve(model, val, boundary_id=None)
    assert len(curve.nll) == T and curve.count.sum() == len(val) - 1
    total = 0.0
    for s in range(0, len(val) - 1, T):
        total += score_tokens(model, val[s : s + T + 1], boundary_id=None)["nll"] * len(val[s : s + T + 1][1:])
    assert curve.nll.sum() == pytest.approx(total, rel=1e-6)
    assert curve.count[0] == -(-(len(val) - 1) // T) and curve.count[-1] == (len(val) - 1) // T


def test_a_count_model_uses_its_order_minus_one_tokens(tiny_stream):
    curve = position_curve(bigram(tiny_stream, order=3), tiny_stream.splits["val"], boundary_id=None, seq_len=64)
    means = [m for _, _, m, _ in curve.bins()]
    assert means[0] > means[1]  # one token of context is worse than two
    assert curve.context_used(tol=0.05) <= 3  # flat (to noise) from two tokens of context on


def test_context_used_reads_the_binned_curve():
    T = 64
    loss = np.where(np.arange(T) < 6, 3.0 - 0.2 * np.arange(T), 1.8)  # falls until context 6, then flat
    curve = PositionCurve(loss * 100, np.full(T, 100))
    assert [b[:2] for b in curve.bins()] == [(1, 1), (2, 2), (3, 4), (5, 8), (9, 16), (17, 32), (33, 64)]
    assert curve.context_used() == 9  # the 5-8 bin still holds context 5 (2.2 nats)
    assert PositionCurve(np.full(T, 200.0), np.full(T, 100)).context_used() == 1  # flat: one token is enough
    assert PositionCurve(np.zeros(T), np.zeros(T, np.int64)).context_used() == 0  # nothing scored
    # a dip of 0.05 nats at contexts 9-16 is noise when each position's NLL spreads by 1 nat over 100 samples
    dip = np.where(np.arange(T) < 6, 3.0 - 0.2 * np.arange(T), np.where(np.arange(T) < 16, 1.85, 1.8))
    assert PositionCurve(dip * 100, np.full(T, 100)).context_used() == 17
    # 100 windows whose bin sums spread: each bin's mean has a standard error of 0.1 nats
    spread = [(m * m * n * n + 0.01 * n * n * 100, m * n * n, n * n) for m, n in
              ((b[2], b[3] / 100) for b in PositionCurve(dip * 100, np.full(T, 100)).bins())]  # fmt: skip
    noisy = PositionCurve(dip * 100, np.full(T, 100), np.array(spread) * 100)
    assert noisy.context_used() == 5  # 2 standard errors of a difference: 0.28 nats; bin 3-4 is 0.7 above
