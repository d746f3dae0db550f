"""Issue 47 (round four), what the case tables cannot hold: a fault planted at a precise moment of a real command
(a corpus edited between prepare's passes, ...), each on real files."""

from __future__ import annotations

import os

import pytest

from lmladder.data import streaming, streaming_lines
from lmladder.data.errors import DataError
from lmladder.data.streaming import prepare_file
from lmladder.data.streaming_lines import prepare_lines_file

from .harness import shared_file

CHANGED = r"changed while it was being prepared \(.*\); prepare again once nothing writes to it"


def _corpus(tmp_path, n=4000):
    file = tmp_path / "corpus.txt"
    file.write_text("\n".join(shared_file("names.txt").read_text().splitlines()[:n]) + "\n")
    return file


def _edit_after(monkeypatch, module, name, file, edit):
    """Run `edit(file)` once module.name (a pass of prepare) has run: the corpus changes between passes."""
    real = getattr(module, name)

    def wrapped(*a, **k):
        out = real(*a, **k)
        edit(file)
        return out

    monkeypatch.setattr(module, name, wrapped)


def _append(file):
    with open(file, "a") as f:
        f.write("zoe\n")


def _same_size_same_mtime(file):
    """A tail swapped for other letters of the same length, the modification time put back: only a hash tells."""
    st, data = os.stat(file), file.read_bytes()
    file.write_bytes(data[:-4] + b"xyz\n")
    os.utime(file, ns=(st.st_atime_ns, st.st_mtime_ns))


@pytest.mark.parametrize("tokenizer", ["char", "bpe"])
def test_a_stream_corpus_edited_after_its_hash_is_refused(tmp_path, monkeypatch, tokenizer):
    file = _corpus(tmp_path)
    _edit_after(monkeypatch, streaming, "scan", file, _append)
    opts = {"vocab_size": 270} if tokenizer == "bpe" else {}
    with pytest.raises(DataError, match=CHANGED):
        prepare_file(file, tokenizer=tokenizer, fractions=(0.9, 0.1), out_dir=tmp_path / "p", source="corpus", **opts)
    assert not (tmp_path / "p").exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".p.")]


def test_a_stream_corpus_edited_during_encoding_is_refused_even_with_its_mtime_put_back(tmp_path, monkeypatch):
    file = _corpus(tmp_path)
    _edit_after(monkeypatch, streaming, "build_tokenizer", file, _same_size_same_mtime)
    with pytest.raises(DataError, match=r"corpus changed while it was being prepared \(its sha256 was \w{12} when"):
        prepare_file(file, tokenizer="char", fractions=(0.9, 0.1), out_dir=tmp_path / "p", source="corpus")
    assert not (tmp_path / "p").exists()


def test_a_lines_corpus_edited_between_its_passes_is_refused(tmp_path, monkeypatch):
    file = _corpus(tmp_path)
    _edit_after(monkeypatch, streaming_lines, "line_lengths", file, _append)  # lengths counted, then a line more
    with pytest.raises(DataError, match=CHANGED):
        prepare_lines_file(file, tokenizer="char", fractions=(0.8, 0.1, 0.1), out_dir=tmp_path / "p", source="c")
    assert not (tmp_path / "p").exists()


def test_an_unchanged_corpus_prepares_as_before(tmp_path):
    file = _corpus(tmp_path)
    stats = prepare_lines_file(file, tokenizer="char", fractions=(0.8, 0.1, 0.1), out_dir=tmp_path / "p", source="c")
    assert len(stats["sha256"]) == 64 and (tmp_path / "p" / "train.npy").exists()


def test_a_corpus_that_differs_from_the_digest_its_cache_folder_is_named_by_is_refused(tmp_path):
    from lmladder.data import DataConfig
    from lmladder.data.store import prepare

    file = _corpus(tmp_path, n=300)
    named = "0" * 64  # what ensure_prepared hashed before the file was edited
    with pytest.raises(DataError, match=r"changed while it was being prepared \(its sha256 was 000000000000 when"):
        prepare(DataConfig(source="file", path=str(file)), tmp_path / "p", corpus_sha256=named)
    with pytest.raises(DataError, match=r"changed while it was being prepared \(its sha256 was 000000000000 when"):
        prepare_file(file, tokenizer="char", fractions=(0.9, 0.1), out_dir=tmp_path / "p", source="c",
                     meta={"corpus_sha256": named})  # fmt: skip
    assert not (tmp_path / "p").exists()
