"""Splits: the team's known counts for Tiny Shakespeare and names, and the fraction rules."""

import random

import pytest

import lmladder.data.shuffle as shuffle
from lmladder.data import DataError, check_fractions, corpus_lines, load_text, split_lines, split_stream

from ..shared_data import NAMES, SHAKESPEARE


def test_shakespeare_stream_split():
    parts = split_stream(load_text("file", path=SHAKESPEARE))
    assert [len(parts[k]) for k in parts] == [1_003_854, 111_540]


@pytest.mark.parametrize("jit_from", [1 << 16, 2], ids=["python", "compiled"])
def test_names_split_matches_makemore(monkeypatch, jit_from):
    monkeypatch.setattr(shuffle, "JIT_FROM", jit_from)  # 32,033 names: below JIT_FROM Python shuffles
    words = corpus_lines(load_text("file", path=NAMES))
    parts = split_lines(words)
    assert [sum(len(w) + 1 for w in parts[k]) for k in ("train", "val", "test")] == [182_625, 22_655, 22_866]
    ref = list(words)
    random.seed(42)
    random.shuffle(ref)  # makemore's own recipe, global RNG (the library never touches it)
    n1, n2 = int(0.8 * len(ref)), int(0.9 * len(ref))
    assert parts["train"] == ref[:n1] and parts["val"] == ref[n1:n2] and parts["test"] == ref[n2:]
    assert words == corpus_lines(load_text("file", path=NAMES))  # the caller's list is not shuffled in place


def test_rounded_cumulative_cut():
    # 0.8 + 0.1 = 0.9000000000000001 in floating point; a naive int(acc * n) would be the same here, but
    # 0.7 + 0.2 = 0.8999999999999999 would lose a line at n = 10
    parts = split_lines(list("abcdefghij"), (0.7, 0.2, 0.1))
    assert [len(parts[k]) for k in parts] == [7, 2, 1]


@pytest.mark.parametrize("fr", [(1.0,), (0.5, 0.6), (0.0, 1.0), (0.25,) * 4, (0.9, "x"), (1.2, -0.2)])
def test_bad_fractions(fr):
    with pytest.raises(DataError, match="fractions="):
        check_fractions(fr)


def test_empty_split_is_an_error():
    with pytest.raises(DataError, match=r"split 'val' is empty"):
        split_lines(["a", "b", "c"], (0.8, 0.1, 0.1))
    assert check_fractions([0.8, 0.1, 0.1]) == (0.8, 0.1, 0.1)
