"""makemore's sample labels: each sample of a lines corpus is in train, val, test, or new; samples.txt shows the
label after a tab and metrics.json counts them."""

import json

import numpy as np
import pytest

from lmladder.data.prepared import load_prepared, prepare_corpus
from lmladder.inference.novelty import label, novelty, split_documents
from lmladder.models import rung_class
from lmladder.training import Run, SampleSettings, run_rung

NAMES = [f"{a}{b}{c}" for a in "abcde" for b in "aeiou" for c in "lmnrs"]  # 125 distinct names


def _prepared(tmp_path, tokenizer):
    text = "\n".join(NAMES) + "\n"
    prepare_corpus(text, kind="lines", tokenizer=tokenizer, vocab_size=270, out_dir=tmp_path / "p")
    return load_prepared(tmp_path / "p")


@pytest.mark.parametrize("tokenizer", ["char", "bpe", "byte"])
def test_split_documents_are_the_corpus_lines(tmp_path, tokenizer):
    docs = split_documents(_prepared(tmp_path, tokenizer))
    assert set(docs) == {"train", "val", "test"}
    assert sorted(docs["train"] | docs["val"] | docs["test"]) == sorted(NAMES)
    assert sum(map(len, docs.values())) == len(NAMES)  # each line in exactly one split


@pytest.mark.parametrize("tokenizer", ["char", "bpe", "byte"])
def test_documents_decoded_at_once_are_those_decoded_one_by_one(tmp_path, tokenizer):
    """CharTokenizer decodes a split once and cuts the text: the same strings as a decode per document, astral
    characters and all."""
    names = ["zoë", "ann", "x😀y", "ångström", "bob", "ann"]
    text = "\n".join(names * 20) + "\n"
    prepare_corpus(text, kind="lines", tokenizer=tokenizer, vocab_size=270, out_dir=tmp_path / "p")
    data = load_prepared(tmp_path / "p")
    for ids in data.splits.values():
        ids = np.asarray(ids)
        cuts = np.flatnonzero(ids == data.boundary_id)
        one_by_one = [data.tokenizer.decode(ids[a + 1 : b]) for a, b in zip(cuts[:-1], cuts[1:], strict=True)]
        assert data.tokenizer.decode_documents(ids, cuts) == one_by_one


def test_label_takes_the_first_split_that_holds_the_sample():
    docs = {"train": {"ann", "bob"}, "val": {"bob", "cy"}, "test": {"dee"}}
    assert [label(s, docs) for s in ("ann", "bob", "cy", "dee", "eve", "")] == [
        "train",
        "train",
        "val",
        "test",
        "new",
        "new",
    ]
    assert novelty(["train", "new", "new", "val"], ["train", "val", "test"]) == {
        "n": 4,
        "train": 1,
        "val": 1,
        "test": 0,
        "new": 2,
        "novelty": 0.5,
    }
    assert novelty([], ["train", "val"])["novelty"] is None  # JSON has no NaN


def test_a_lines_run_labels_its_samples_and_counts_them(tmp_path):
    data = _prepared(tmp_path, "char")
    cls = rung_class("bigram")
    config = cls.Config(order=3)
    sample = SampleSettings(num_samples=40, sample_tokens=20)
    m = run_rung(Run(cls, config, data, sample=sample, seed=0, out_dir=tmp_path / "run", meta={}, log=lambda _: 0))
    lines = (tmp_path / "run" / "samples.txt").read_text().splitlines()
    assert len(lines) == 40 and all(line.count("\t") == 1 for line in lines)
    docs = split_documents(data)
    names, labels = zip(*(line.split("\t") for line in lines), strict=True)
    assert list(labels) == [label(n, docs) for n in names]
    s = json.loads((tmp_path / "run" / "metrics.json").read_text())["samples"]
    assert s == m["samples"] and s["n"] == 40 and s["train"] + s["val"] + s["test"] + s["new"] == 40
    assert s["novelty"] == labels.count("new") / 40
    assert s["train"] > 0 and s["new"] > 0  # a trigram of 3-letter names copies some and invents others


def test_a_stream_run_has_no_labels(tmp_path):
    prepare_corpus("abc de\n" * 200, kind="stream", tokenizer="char", out_dir=tmp_path / "p")
    data = load_prepared(tmp_path / "p")
    cls = rung_class("bigram")
    m = run_rung(
        Run(
            cls,
            cls.Config(order=2),
            data,
            sample=SampleSettings(num_samples=2, sample_tokens=10),
            seed=0,
            out_dir=tmp_path / "run",
            meta={},
            log=lambda _: 0,
        )
    )
    assert "samples" not in m and "\t" not in (tmp_path / "run" / "samples.txt").read_text()
    assert np.isfinite(m["val"]["nll"])
