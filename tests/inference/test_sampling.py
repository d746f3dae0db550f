"""Sampling: seeded, greedy/top-k/top-p semantics, stop token, prompt cropping, KV cache agreement."""

import numpy as np
import pytest

from lmladder.autograd import is_grad_enabled
from lmladder.inference import SamplingError, generate, next_token
from lmladder.inference.sampling import sample_text, stream
from lmladder.models import build_model
from lmladder.resources import MemoryBudgetError


def gpt(block=8, seed=0):
    return build_model(
        "transformer", vocab_size=11, block_size=block, n_layer=2, n_head=2, n_embd=16, rng=np.random.default_rng(seed)
    )


def test_next_token_semantics():
    logits = np.log(np.array([[0.05, 0.6, 0.3, 0.05]]))
    rng = np.random.default_rng(0)
    assert next_token(logits, rng, temperature=0)[0] == 1
    assert all(next_token(logits, rng, top_k=1)[0] == 1 for _ in range(20))
    assert all(next_token(logits, rng, top_p=0.5)[0] == 1 for _ in range(20))  # 0.6 alone reaches 0.5
    draws = {int(next_token(logits, rng, top_p=0.85)[0]) for _ in range(200)}
    assert draws == {1, 2}  # 0.6 + 0.3 >= 0.85: the 0.05 tails are cut
    draws = {int(next_token(logits, rng, top_k=2)[0]) for _ in range(200)}
    assert draws == {1, 2}
    counts = np.bincount([int(next_token(logits, rng)[0]) for _ in range(4000)], minlength=4) / 4000
    np.testing.assert_allclose(counts, [0.05, 0.6, 0.3, 0.05], atol=0.03)


@pytest.mark.parametrize(
    "kw,msg",
    [
        (dict(temperature=-1.0), "temperature=-1.0 must be >= 0"),
        (dict(top_p=0.0), r"top_p=0.0 must be in \(0, 1\]"),
        (dict(top_p=1.5), r"top_p=1.5 must be in \(0, 1\]"),
        (dict(top_k=0), "top_k=0 must be an integer >= 1"),
    ],
)
def test_bad_options_are_refused(kw, msg):
    with pytest.raises(SamplingError, match=msg):
        generate(gpt(), np.zeros((1, 1), dtype=np.int64), 5, rng=np.random.default_rng(0), **kw)
    with pytest.raises(SamplingError, match="max_new_tokens=-1 must be an integer >= 0"):
        generate(gpt(), np.zeros((1, 1), dtype=np.int64), -1, rng=np.random.default_rng(0))


def test_same_seed_same_samples_for_every_rung():
    ng = build_model("bigram", vocab_size=11, order=2)
    ng.fit(np.random.default_rng(1).integers(0, 11, 500))
    for model in (gpt(), build_model("mlp", vocab_size=11, rng=np.random.default_rng(0)), ng):
        a = generate(model, np.zeros((3, 1), dtype=np.int64), 20, rng=np.random.default_rng(5))
        b = generate(model, np.zeros((3, 1), dtype=np.int64), 20, rng=np.random.default_rng(5))
        c = generate(model, np.zeros((3, 1), dtype=np.int64), 20, rng=np.random.default_rng(6))
        assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
        assert not all(np.array_equal(x, y) for x, y in zip(a, c, strict=True))


@pytest.mark.parametrize("block", [8, 6])
def test_kv_cache_generation_equals_uncached_within_the_context(block):
    model = gpt(block)
    prompt = np.array([[1, 2, 3], [4, 5, 6]])
    new = block - 3  # fill exactly the context
    for kw in (dict(temperature=0), dict(temperature=1.0), dict(top_k=3), dict(top_p=0.9)):
        a = generate(model, prompt, new, rng=np.random.default_rng(0), use_cache=True, **kw)
        b = generate(model, prompt, new, rng=np.random.default_rng(0), use_cache=False, **kw)
        assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True)), kw


def test_long_generation_with_cache_keeps_running_past_the_context():
    model = gpt(8)
    out = generate(model, np.array([[1]]), 40, rng=np.random.default_rng(0))
    assert out[0].shape == (40,)


@pytest.mark.parametrize("block", [1, 2, 3])
def test_tiny_contexts_sample_past_the_context_and_match_uncached(block):
    model = gpt(block)  # block 1 once rebuilt its cache from seq[:, -0:], the whole sequence, and crashed
    a = generate(model, np.array([[1], [2]]), 12, rng=np.random.default_rng(0), temperature=0)
    b = generate(model, np.array([[1], [2]]), 12, rng=np.random.default_rng(0), temperature=0, use_cache=False)
    assert a[0].shape == (12,)
    if block == 1:  # every step sees one token either way, so the cache changes nothing
        assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


def test_stop_token_cuts_each_row():
    model = gpt()
    rows = generate(model, np.zeros((6, 1), dtype=np.int64), 30, rng=np.random.default_rng(2), stop_id=3)
    for r in rows:
        hits = np.flatnonzero(r == 3)
        assert hits.size == 0 or hits[0] == len(r) - 1


def test_prompt_longer_than_context_is_cropped_on_the_left():
    model = gpt(8)
    long = np.arange(20)[None] % 11
    a = generate(model, long, 5, rng=np.random.default_rng(0), temperature=0)
    b = generate(model, long[:, -8:], 5, rng=np.random.default_rng(0), temperature=0)
    assert np.array_equal(a[0], b[0])


@pytest.mark.parametrize("name", ["transformer", "rnn", "mlp"])
def test_stream_is_lazy_and_draws_what_generate_draws(name):
    from itertools import islice

    model = build_model(
        name, vocab_size=11, rng=np.random.default_rng(0), **({"block_size": 8} if name == "transformer" else {})
    )
    prompt = np.array([[1, 2], [3, 4]])
    # 10**15 steps: before, the output buffer for them was allocated up front (8 PB); now each step comes as drawn
    steps = list(islice(stream(model, prompt, 10**15, rng=np.random.default_rng(5)), 50))
    assert is_grad_enabled()  # the suspended generator holds no no_grad() open (it once did, for the whole process)
    rows = generate(model, prompt, 50, rng=np.random.default_rng(5))
    assert np.array_equal(np.stack(steps, axis=1), np.stack(rows))


def test_generate_refuses_a_buffer_that_cannot_fit():
    with pytest.raises(MemoryBudgetError, match=r"collecting max_new_tokens=1000000000000000 tokens .* lower max_new"):
        generate(gpt(), np.array([[1]]), 10**15, rng=np.random.default_rng(0))


def test_a_bpe_stream_runs_samples_end_at_end_of_text():
    """samples.txt as `lmladder sample`: <|endoftext|> ends a stream sample and is not shown (it was once printed
    as its literal text, mid-sample)."""
    from lmladder.data import BPETokenizer, Prepared

    text = "the cat sat on the mat, the dog sat on the log.\n" * 20
    tok = BPETokenizer.train(text, 270)
    eot = tok.special_ids["<|endoftext|>"]
    ids = tok.encode(text)
    data = Prepared(tokenizer=tok, kind="stream", boundary_id=None, splits={"train": ids, "val": ids}, stats={})
    model = build_model(
        "transformer",
        vocab_size=tok.vocab_size,
        block_size=8,
        n_layer=1,
        n_head=2,
        n_embd=16,
        rng=np.random.default_rng(0),
    )
    samples = sample_text(model, data, np.random.default_rng(1), num_samples=4, sample_tokens=3000)
    assert all("<|endoftext|>" not in s for s in samples)
    # an untrained model draws it at about 1 in 270 tokens: every sample stopped long before 3000 tokens
    assert all(len(tok.encode(s)) < 3000 for s in samples) and eot == tok.vocab_size - 1


def test_no_samples_asked_gives_none():
    """sample.num_samples=0 is allowed: the MLP reshaped its empty batch and failed at the end of training."""
    from lmladder.data import CharTokenizer, Prepared

    tok = CharTokenizer(list("ab"), lines=True)
    ids = np.array([0, 1, 2, 0, 2, 1, 0])
    data = Prepared(tokenizer=tok, kind="lines", boundary_id=0, splits={"train": ids, "val": ids}, stats={})
    model = build_model("mlp", vocab_size=tok.vocab_size, context=3, rng=np.random.default_rng(0))
    assert sample_text(model, data, np.random.default_rng(1), num_samples=0, sample_tokens=5) == []
