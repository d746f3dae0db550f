"""Beam search: beam 1 is greedy decoding on every kind of rung, wider beams score at least as well, a beam as wide
as every prefix finds the exact optimum, stop tokens end beams, and the same call gives the same answer."""

import itertools

import numpy as np
import pytest

from lmladder.inference import SamplingError, generate
from lmladder.inference.beam import beam_search
from lmladder.models import build_model

V = 7


def model(name, seed=0):
    kw = {"block_size": 6, "n_layer": 1, "n_head": 2, "n_embd": 8} if name == "transformer" else {}
    return build_model(name, vocab_size=V, rng=np.random.default_rng(seed), **kw)


def _logprob(m, prompt, ids) -> float:
    """sum log p(ids | prompt) by running the model on each prefix, independently of beam_search."""
    total, seq = 0.0, list(prompt)
    for t in ids:
        window = np.array(seq[-m.block_size :] if m.block_size else seq)[None]
        logits = m(window, last_only=True)[0].data[0, -1].astype(np.float64)
        total += logits[t] - logits.max() - np.log(np.exp(logits - logits.max()).sum())
        seq.append(t)
    return total


@pytest.mark.parametrize("name", ["transformer", "rnn", "mlp"])
@pytest.mark.parametrize("stop_id", [None, 0])
def test_beam_1_is_greedy_decoding(name, stop_id):
    m = model(name)
    for prompt in ([1], [2, 3, 4], [5] * 9):  # the last is longer than the GPT's context: cropped on the left
        want = generate(m, np.array([prompt]), 12, rng=np.random.default_rng(0), temperature=0, stop_id=stop_id,
                        use_cache=False)[0]  # fmt: skip
        got = beam_search(m, np.array(prompt), 12, 1, stop_id=stop_id)
        assert np.array_equal(got.ids, want), (name, prompt)
        assert got.logprob == pytest.approx(_logprob(m, prompt, want), abs=1e-6)


NAMES = "emma olivia ava isabella sophia mia amelia harper evelyn abigail emily ella elizabeth camila luna".split()


@pytest.mark.parametrize("order", [2, 3, 4])
def test_wider_beams_never_score_below_beam_1(order):
    """On fitted n-grams of names (peaked distributions, as a trained model's are), a wider beam never loses to
    greedy under its own score, and each answer's score is its mean log-probability. Beam search is a heuristic,
    not a guarantee: on an untrained model's near-uniform distributions a wider beam can lose by a hair."""
    chars = sorted(set("".join(NAMES)))
    ids = [0] + [i for n in NAMES for i in [*(chars.index(c) + 1 for c in n), 0]]  # 0: the boundary
    m = build_model("bigram", vocab_size=len(chars) + 1, order=order)
    m.fit(np.array(ids))
    for prompt in ([0], [0, 1], [0, 5], [0, chars.index("l") + 1]):
        greedy = beam_search(m, np.array(prompt), 20, 1, stop_id=0)
        for width in (2, 3, 5, 10):
            b = beam_search(m, np.array(prompt), 20, width, stop_id=0)
            assert b.score >= greedy.score - 1e-12, (prompt, width)
            assert b.score == pytest.approx(_logprob(m, prompt, b.ids) / len(b.ids), abs=1e-6)


@pytest.mark.parametrize("seed", range(4))
def test_a_beam_as_wide_as_every_prefix_finds_the_best_sequence(seed):
    m, n = build_model("bigram", vocab_size=V, order=3, k=0.1), 3  # sparse random trigram counts: uneven odds
    m.fit(np.random.default_rng(seed).integers(0, V, 150))
    best = max(itertools.product(range(V), repeat=n), key=lambda ids: _logprob(m, [1, 2], ids))
    got = beam_search(m, np.array([1, 2]), n, V ** (n - 1))  # the first step has only V candidates: all stay
    assert tuple(got.ids) == best and got.logprob == pytest.approx(_logprob(m, [1, 2], best), abs=1e-9)


def test_stop_token_ends_a_beam_and_the_search_is_deterministic():
    m = model("rnn", 2)
    runs = [beam_search(m, np.array([1]), 30, 4, stop_id=3) for _ in range(2)]
    assert np.array_equal(runs[0].ids, runs[1].ids) and runs[0].logprob == runs[1].logprob
    hits = np.flatnonzero(runs[0].ids == 3)
    assert hits.size == 0 or hits[0] == len(runs[0].ids) - 1


def test_edges_and_bad_widths():
    m = model("mlp")
    empty = beam_search(m, np.array([1]), 0, 3)
    assert empty.ids.size == 0 and empty.logprob == 0.0 and empty.score == 0.0
    for bad in (0, -2, 1.5):
        with pytest.raises(SamplingError, match=r"beam=.* must be an integer >= 1"):
            beam_search(m, np.array([1]), 5, bad)


def test_a_wider_beam_escapes_the_greedy_trap():
    """From 0, token 1 is likelier (0.6) than 2 (0.4), but after 1 the odds spread over 3-6 while 2 is always
    followed by 3: greedy takes 1, beam 2 finds 0 2 3 0."""
    m = build_model("bigram", vocab_size=V, order=2, k=0.0)
    m.fit(np.array([0, 1, 3, 0, 1, 4, 0, 1, 5, 0, 1, 6, 0, 1, 3, 0, 1, 4, 0, 2, 3, 0, 2, 3, 0, 2, 3, 0, 2, 3, 0]))
    greedy, wide = (beam_search(m, np.array([0]), 10, w, stop_id=0) for w in (1, 2))
    assert greedy.ids.tolist() == [1, 3, 0] and wide.ids.tolist() == [2, 3, 0]
    assert wide.score == pytest.approx(np.log(0.4) / 3) and greedy.score == pytest.approx(np.log(0.6 / 3) / 3)
