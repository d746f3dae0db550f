"""Sources: the embedded baby names, local files, verified downloads (file:// URLs, no network), lines checks."""

import hashlib
import os

import pytest

from lmladder.data import DataError, corpus_lines, load_source, load_text

from ..shared_data import NAMES, SHAKESPEARE

SHAKESPEARE_SHA = "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"


def test_babynames_2017():
    names = corpus_lines(load_text("babynames", year=2017))
    assert len(names) == 29_910 and names[:4] == ["emma", "liam", "olivia", "noah"]
    assert all(n.isalpha() and n.islower() for n in names) and len(set(names)) == len(names)


def test_babynames_year_out_of_range():
    with pytest.raises(DataError, match=r"no baby names for year=1700; choose data.babynames.year in 1880\.\.2017"):
        load_source("babynames", year=1700)


def test_file_source_and_sha256():
    src = load_source("file", path=SHAKESPEARE, sha256=SHAKESPEARE_SHA.upper())
    assert src.sha256 == SHAKESPEARE_SHA and len(src.data) == 1_115_394 and src.description.startswith("file:")
    with pytest.raises(DataError, match=f"sha256 mismatch.*expected {'0' * 64}, got {SHAKESPEARE_SHA}"):
        load_source("file", path=SHAKESPEARE, sha256="0" * 64)


def test_file_errors(tmp_path):
    with pytest.raises(DataError, match=r"not found; set path="):
        load_source("file", path=tmp_path / "nope.txt")
    os.mkfifo(tmp_path / "fifo")  # refused without being opened: reading it would wait for a writer forever
    with pytest.raises(DataError, match=r"is a FIFO \(named pipe\), not a regular file; set path= to a text file"):
        load_source("file", path=tmp_path / "fifo")
    with pytest.raises(DataError, match=r"is a directory, not a regular file"):
        load_source("file", path=tmp_path)
    (tmp_path / "empty.txt").write_bytes(b"")
    with pytest.raises(DataError, match="is empty"):
        load_source("file", path=tmp_path / "empty.txt")
    (tmp_path / "latin1.txt").write_bytes("abc\ncafé".encode("latin-1"))
    src = load_source("file", path=tmp_path / "latin1.txt")
    assert src.data.endswith(b"\xe9")  # raw bytes are fine (the byte tokenizer takes them)
    with pytest.raises(DataError, match=r"not valid UTF-8 \(byte 0xe9 at offset 7\).*tokenizer=byte"):
        src.text()
    with pytest.raises(DataError, match="source='ftp' is unknown"):
        load_source("ftp")
    with pytest.raises(DataError, match="64 hex digits"):
        load_source("file", path=NAMES, sha256="abc")


def test_url_downloads_once_verifies_and_caches(tmp_path, monkeypatch):
    remote = tmp_path / "remote" / "corpus.txt"
    remote.parent.mkdir()
    remote.write_bytes(b"hello\nworld\n")
    digest = hashlib.sha256(remote.read_bytes()).hexdigest()
    raw = tmp_path / "raw"
    src = load_source("url", url=remote.as_uri(), sha256=digest, raw_dir=raw)
    assert src.data == b"hello\nworld\n" and (raw / "corpus.txt").read_bytes() == src.data
    assert [p.name for p in raw.iterdir()] == ["corpus.txt"]  # no temp file left behind

    def no_network(*a, **k):
        raise AssertionError("the cached, verified file must be used without the network")

    monkeypatch.setattr("urllib.request.urlopen", no_network)
    assert load_source("url", url=remote.as_uri(), sha256=digest, raw_dir=raw).data == src.data
    # an explicit path wins over downloading, and is verified too
    assert load_source("url", url="https://example.invalid/x.txt", path=remote, sha256=digest).data == src.data


def test_url_mismatch_keeps_nothing(tmp_path):
    remote = tmp_path / "corpus.txt"
    remote.write_bytes(b"tampered\n")
    raw = tmp_path / "raw"
    with pytest.raises(DataError, match=f"sha256 mismatch for file://.*expected {'a' * 64}, got [0-9a-f]{{64}}"):
        load_source("url", url=remote.as_uri(), sha256="a" * 64, raw_dir=raw)
    assert list(raw.iterdir()) == []


def test_url_needs_sha256_and_reports_failures(tmp_path):
    with pytest.raises(DataError, match="needs sha256="):
        load_source("url", url="https://example.invalid/names.txt")
    with pytest.raises(DataError, match=r"download of file://.* failed"):
        load_source("url", url=(tmp_path / "missing.txt").as_uri(), sha256="a" * 64, raw_dir=tmp_path / "raw")


def test_corpus_lines():
    assert corpus_lines("a\r\nbb\r\nc\r\n") == ["a", "bb", "c"]
    assert corpus_lines("a\nb") == ["a", "b"]
    assert corpus_lines(b"a\nb\n") == [b"a", b"b"]
    with pytest.raises(DataError, match="blank line 3 in a lines corpus"):
        corpus_lines("a\nb\n\nc\n")
    with pytest.raises(DataError, match="blank line 2"):
        corpus_lines("a\n\r\nc\n")
    with pytest.raises(DataError, match="empty"):
        corpus_lines("\n\n")


def test_a_byte_order_mark_is_not_text_and_cr_only_lines_are_lines(tmp_path):
    f = tmp_path / "bom.txt"
    f.write_bytes("\ufeffanna\nbob\n".encode())
    assert load_source("file", path=str(f)).text() == "anna\nbob\n"  # no U+FEFF symbol in the vocabulary
    assert corpus_lines("anna\rbob\rcarl\r") == ["anna", "bob", "carl"]  # classic Mac line endings
    assert corpus_lines(b"anna\r\nbob\r\n") == [b"anna", b"bob"]
