"""Batching: training samplers, the eval coverage property (every target scored exactly once), contexts."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lmladder.data import (
    DataError,
    context_windows,
    contexts,
    doc_bounds,
    eval_batches,
    eval_plan,
    sample_docs,
    sample_windows,
)
from lmladder.models.base import IGNORE_INDEX

B = 0  # boundary id in the hand-made lines splits


def lines_split(lengths):
    """[B, w1..., B, w2..., B] with word i made of the letter id i % 5 + 1."""
    out = [B]
    for i, n in enumerate(lengths):
        out += [i % 5 + 1] * n + [B]
    return np.array(out, dtype=np.uint8)


def test_sample_windows_is_nanogpt_get_batch():
    tokens = np.arange(100, dtype=np.uint16)
    x, y = sample_windows(tokens, 4, 8, np.random.default_rng(0))
    ix = np.random.default_rng(0).integers(0, 100 - 8, 4)
    assert x.dtype == y.dtype == np.int64 and x.shape == y.shape == (4, 8)
    np.testing.assert_array_equal(x[:, 0], ix)
    np.testing.assert_array_equal(y, x + 1)
    with pytest.raises(DataError, match=r"split has 8 tokens, too short for seq_len=8.*use seq_len <= 7"):
        sample_windows(tokens[:8], 1, 8, np.random.default_rng(0))


def test_doc_bounds():
    s, e = doc_bounds(lines_split([2, 1, 3]), B)
    np.testing.assert_array_equal(s, [0, 3, 5])
    np.testing.assert_array_equal(e, [3, 5, 9])
    with pytest.raises(DataError, match="must start and end with the boundary id 0"):
        doc_bounds(np.array([1, 0, 2, 0]), B)


def test_sample_docs_pads_and_crops():
    tokens = lines_split([2, 1, 9])
    bounds = doc_bounds(tokens, B)
    x, y = sample_docs(tokens, bounds, 64, 5, np.random.default_rng(1))
    assert x.dtype == y.dtype == np.int64 and x.shape == y.shape and x.shape[1] <= 5
    for xr, yr in zip(x, y, strict=True):
        n = int((yr != IGNORE_INDEX).sum())
        assert (yr[n:] == IGNORE_INDEX).all() and (xr[n:] == B).all()  # right padding
        np.testing.assert_array_equal(xr[1:n], yr[: n - 1])  # y is x shifted by one
        if yr[n - 1] == B and xr[0] == B:  # a whole short document: starts and ends with the boundary
            assert n in (3, 2)
        else:
            assert n == 5  # a crop of the 9-letter word, seq_len + 1 tokens long
    assert {int(r[1]) for r in x} >= {1, 2}  # several documents were drawn


def coverage(tokens, kind, T, batch_size=3):
    """Check the plan and the batches against the property; returns the number of rows."""
    n = len(tokens)
    start, width, first = eval_plan(tokens, kind=kind, boundary_id=B, seq_len=T)
    assert (width <= T).all() and (first < width).all()
    pos = np.concatenate([s + 1 + np.arange(f, w) for s, w, f in zip(start, width, first, strict=True)])
    np.testing.assert_array_equal(np.sort(pos), np.arange(1, n))  # every target position exactly once
    scored = 0
    for x, y in eval_batches(tokens, kind=kind, boundary_id=B, seq_len=T, batch_size=batch_size):
        assert x.dtype == y.dtype == np.int64 and x.shape == y.shape and x.shape[1] <= T
        scored += int((y != IGNORE_INDEX).sum())
    assert scored == n - 1
    # context: every scored target sees at least T // 2 tokens of its own segment (or all it has)
    ctx = np.concatenate([np.arange(f, w) + 1 for w, f in zip(width, first, strict=True)])
    seg_pos = pos - 1 - np.maximum.accumulate(np.where(tokens == B, np.arange(n), 0))[pos - 1] + 1
    assert (ctx >= np.minimum(T // 2, seg_pos if kind == "lines" else pos)).all()
    return len(start)


@settings(max_examples=150, deadline=None)
@given(n=st.integers(2, 120), T=st.integers(1, 40))
def test_eval_stream_scores_every_token_once(n, T):
    tokens = np.arange(n, dtype=np.uint16)
    coverage(tokens, "stream", T)
    ys = np.concatenate(
        [
            y[y != IGNORE_INDEX]
            for _, y in eval_batches(tokens, kind="stream", boundary_id=None, seq_len=T, batch_size=4)
        ]
    )
    np.testing.assert_array_equal(np.sort(ys), np.arange(1, n))  # token value == position here


@settings(max_examples=150, deadline=None)
@given(lengths=st.lists(st.integers(0, 25), min_size=1, max_size=12), T=st.integers(1, 12))
def test_eval_lines_scores_every_token_once(lengths, T):
    coverage(lines_split(lengths), "lines", T)


@pytest.mark.parametrize("n,T", [(2, 1), (5, 8), (9, 8), (17, 8), (16, 7), (30, 7), (10, 1), (33, 32)])
def test_eval_stream_edge_cases(n, T):
    coverage(np.arange(n, dtype=np.uint16), "stream", T)


def test_eval_stream_windows_layout():
    tokens = np.arange(20, dtype=np.uint16)  # 19 targets, T = 8, stride 4
    batches = list(eval_batches(tokens, kind="stream", boundary_id=None, seq_len=8, batch_size=10))
    x, y = batches[0]
    np.testing.assert_array_equal(x[:, 0], [0, 4, 8, 11])  # the last window ends at the last token
    np.testing.assert_array_equal(y[0], np.arange(1, 9))
    np.testing.assert_array_equal(y[1], [-1, -1, -1, -1, 9, 10, 11, 12])
    np.testing.assert_array_equal(y[3], [-1, -1, -1, -1, -1, 17, 18, 19])  # only what window 2 left unscored


def test_eval_lines_rows_are_documents():
    tokens = lines_split([2, 1, 3])
    x, y = next(eval_batches(tokens, kind="lines", boundary_id=B, seq_len=8, batch_size=8))
    np.testing.assert_array_equal(x, [[0, 1, 1, 0], [0, 2, 0, 0], [0, 3, 3, 3]])
    np.testing.assert_array_equal(y, [[1, 1, 0, -1], [2, 0, -1, -1], [3, 3, 3, 0]])


def test_eval_errors():
    with pytest.raises(DataError, match="at least 2 tokens"):
        list(eval_batches(np.array([3]), kind="stream", boundary_id=None, seq_len=4, batch_size=1))
    with pytest.raises(DataError, match="seq_len must be >= 1"):
        eval_plan(np.arange(5), kind="stream", boundary_id=None, seq_len=0)
    with pytest.raises(DataError, match="unknown corpus kind"):
        eval_plan(np.arange(5), kind="doc", boundary_id=None, seq_len=2)


def test_contexts_stream_and_lines():
    ctx, tgt = contexts(np.array([5, 6, 7, 8]), 2, pad_id=0)
    np.testing.assert_array_equal(ctx, [[0, 5], [5, 6], [6, 7]])
    np.testing.assert_array_equal(tgt, [6, 7, 8])
    tokens = np.array([0, 1, 2, 3, 0, 4, 0])  # documents "abc" and "d"
    ctx, tgt = contexts(tokens, 3, pad_id=0, boundary_id=0)
    np.testing.assert_array_equal(ctx, [[0, 0, 0], [0, 0, 1], [0, 1, 2], [1, 2, 3], [0, 0, 0], [0, 0, 4]])
    assert contexts(tokens, 0, pad_id=0)[0].shape == (6, 0)


@settings(max_examples=50, deadline=None)
@given(tok=st.lists(st.integers(0, 3), min_size=2, max_size=40), n_ctx=st.integers(0, 5), lines=st.booleans())
def test_contexts_match_a_loop(tok, n_ctx, lines):
    tokens, b = np.array(tok), (0 if lines else None)
    ctx, tgt = contexts(tokens, n_ctx, pad_id=0, boundary_id=b)
    for i in range(1, len(tokens)):
        lo = max([j for j in range(i) if tokens[j] == 0], default=0) if lines else 0
        want = [tokens[j] if j >= lo else 0 for j in range(i - n_ctx, i)]
        np.testing.assert_array_equal(ctx[i - 1], want)
    np.testing.assert_array_equal(context_windows(tokens[None, :-1], n_ctx, 0, b)[0], ctx)
