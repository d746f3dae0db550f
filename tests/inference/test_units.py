"""Per-unit scores (inference/units.py): they add up to the exact scores, leave those bit-identical, share their
units across tokenizers of one text, and refuse a file that is cut short, tampered with or pickled."""

import numpy as np
import pytest

import lmladder.inference.units as units_module
from lmladder.data import load_prepared, load_text, prepare_corpus
from lmladder.inference.scoring import score_splits, score_splits_units
from lmladder.inference.units import UNIT_CHARS, UnitsError, load_units, save_units, split_units
from lmladder.models import for_data, rung_class

from ..shared_data import shared_file


def bigram(data):
    cls = rung_class("bigram")
    model = cls(for_data(cls.Config(), data), rng=np.random.default_rng(0))
    model.fit(np.asarray(data.splits["train"]))
    return model


def check_sums(scores, units):
    for split, s in scores.items():
        u = units[split]
        assert u.tokens.sum() == s["tokens"] and u.chars.sum() == s["chars"] and u.bytes.sum() == s["bytes"]
        assert u.mean_nll == pytest.approx(s["nll"], rel=1e-9)


def test_names_units_are_its_documents_and_the_scores_stay_bit_identical(names_prepared):
    model = bigram(names_prepared)
    scores, units = score_splits_units(model, names_prepared)
    assert scores == score_splits(model, names_prepared)  # the per-token pass changes no reported bit
    check_sums(scores, units)
    val = units["val"]
    assert val.unit == "document" and len(val.nll) == names_prepared.stats["splits"]["val"]["lines"]
    assert (val.tokens >= 2).all()  # every name has at least one letter and its end token
    assert (val.chars == val.tokens).all()  # one character per token, the end token's newline included


@pytest.fixture(scope="module")
def stream_two_tokenizers(tmp_path_factory):
    text = load_text("file", path=shared_file("tinyshakespeare.txt"))[:40_000]
    out = {}
    for tok, extra in (("char", {}), ("bpe", {"vocab_size": 300})):
        path = tmp_path_factory.mktemp(tok) / "prepared"
        prepare_corpus(text, kind="stream", tokenizer=tok, out_dir=path, **extra)
        out[tok] = load_prepared(path)
    return out


def test_stream_blocks_are_shared_by_tokenizers_of_one_text(stream_two_tokenizers):
    units = {}
    for tok, data in stream_two_tokenizers.items():
        scores, units[tok] = score_splits_units(bigram(data), data)
        check_sums(scores, units[tok])
    char, bpe = units["char"]["val"], units["bpe"]["val"]
    assert char.digest == bpe.digest and char.unit == bpe.unit == f"block{UNIT_CHARS}"
    assert len(char.nll) == len(bpe.nll) == 4  # the 4,000-character val split
    assert char.chars.tolist() == [999, 1000, 1000, 1000]  # the first character is context, never predicted
    # a BPE token crossing a block boundary counts wholly in the block where it ends: blocks stay within a token
    assert abs(bpe.chars[1:-1] - 1000).max() < 20 and bpe.tokens.sum() < char.tokens.sum()


TOKENIZERS = [("char", {}), ("byte", {}), ("word", {"min_count": 1}), ("bpe", {"vocab_size": 300})]


@pytest.mark.parametrize("tokenizer,opts", TOKENIZERS, ids=[t for t, _ in TOKENIZERS])
@pytest.mark.parametrize("kind", ["stream", "lines"])
def test_units_read_a_chunk_at_a_time_are_the_units_of_the_whole_split(tmp_path, monkeypatch, kind, tokenizer, opts):
    text = shared_file("names.txt" if kind == "lines" else "tinyshakespeare.txt").read_text()[:60_000]
    prepare_corpus(text, kind=kind, tokenizer=tokenizer, out_dir=tmp_path / "p", **opts)
    data = load_prepared(tmp_path / "p")
    ids = data.splits["val"]
    nll = np.random.default_rng(0).random(len(ids) - 1)
    whole = split_units(data.tokenizer, ids, nll, kind=kind, boundary_id=data.boundary_id)
    monkeypatch.setattr(units_module, "UNIT_CHUNK", 97)  # chunks cut inside units and inside documents
    parts = split_units(data.tokenizer, ids, nll, kind=kind, boundary_id=data.boundary_id)
    assert parts.digest == whole.digest and parts.unit == whole.unit
    for k in ("tokens", "chars", "bytes"):
        assert np.array_equal(getattr(parts, k), getattr(whole, k)), k
    np.testing.assert_allclose(parts.nll, whole.nll, rtol=1e-12)  # sums in another order


def test_a_unit_file_round_trips_and_bad_ones_are_refused(names_prepared, tmp_path):
    scores, units = score_splits_units(bigram(names_prepared), names_prepared)
    path = tmp_path / "units.npz"
    save_units(path, units)
    back = load_units(path, metrics=scores)
    assert back["val"].digest == units["val"].digest and np.array_equal(back["test"].nll, units["test"].nll)
    raw = path.read_bytes()
    (tmp_path / "half.npz").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(UnitsError, match="half.npz is truncated or corrupt"):
        load_units(tmp_path / "half.npz")
    other = {**scores, "val": {**scores["val"], "nll": scores["val"]["nll"] * 1.01}}
    with pytest.raises(UnitsError, match="disagrees with its run's metrics.json: val units give NLL"):
        load_units(path, metrics=other)
    np.savez(tmp_path / "pickled.npz", meta=np.array([{"format": 1}], dtype=object))
    with pytest.raises(UnitsError, match="pickled.npz is truncated or corrupt"):
        load_units(tmp_path / "pickled.npz")
