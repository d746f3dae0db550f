"""Streaming prepare (data/streaming.py, streaming_lines.py): a corpus file read a chunk at a time gives the arrays,
vocabulary and stats that prepare_corpus makes from the whole text in memory; bad files fail as they do there; a killed
prepare leaves nothing a later run would use."""

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import lmladder.data.shuffle as shuffle
import lmladder.data.spill as spill
import lmladder.data.store as store
import lmladder.data.streaming as streaming
import lmladder.data.streaming_lines as streaming_lines
from lmladder.data import DataConfig, DataError, load_prepared, load_source, prepare_corpus
from lmladder.data.sources import source_sha256, split_lines
from lmladder.data.streaming import prepare_file, token_dtype
from lmladder.data.streaming_lines import prepare_lines_file
from tests.shared_data import shared_file

TOKENIZERS = [("char", {}), ("byte", {}), ("word", {"min_count": 2}), ("bpe", {"vocab_size": 300})]


def _odd_corpus(path: Path) -> Path:
    """Shakespeare's start with a byte order mark, multi-byte characters, runs of blank lines and spaces, and a
    character only val has (so char needs its unknown token)."""
    text = shared_file("tinyshakespeare.txt").read_text()[:60_000]
    text = text.replace("e\n", "é\n\n  ").replace("the", "the 😀 ").replace("\n\n", "\n\u00a0\n")
    path.write_text("\ufeff" + text + "\nZZ \u2603 snow\n", encoding="utf-8")
    return path


def _same(a: Path, b: Path) -> None:
    pa, pb = load_prepared(a), load_prepared(b)
    assert set(pa.splits) == set(pb.splits)
    for k in pa.splits:
        assert pa.splits[k].dtype == pb.splits[k].dtype and np.array_equal(pa.splits[k], pb.splits[k]), k
    for name in ("vocab.json", "stats.json"):
        assert (a / name).read_text() == (b / name).read_text(), name


@pytest.mark.parametrize("tokenizer,opts", TOKENIZERS, ids=[t for t, _ in TOKENIZERS])
@pytest.mark.parametrize("corpus", ["shakespeare", "odd"])
def test_streamed_arrays_equal_the_in_memory_ones(tmp_path, monkeypatch, corpus, tokenizer, opts):
    monkeypatch.setattr(streaming, "CHUNK", 997)  # many pieces, cut anywhere (inside a multi-byte character too)
    file = shared_file("tinyshakespeare.txt") if corpus == "shakespeare" else _odd_corpus(tmp_path / "odd.txt")
    if corpus == "shakespeare" and tokenizer in ("word", "bpe"):
        file = tmp_path / "part.txt"  # a fifth of it keeps the slow tokenizers quick; the cuts are as many
        file.write_bytes(shared_file("tinyshakespeare.txt").read_bytes()[:200_000])
    data = file.read_bytes()
    text = data if tokenizer == "byte" else data.decode("utf-8").removeprefix("\ufeff")
    mem = prepare_corpus(text, kind="stream", tokenizer=tokenizer, out_dir=tmp_path / "mem", source="s", **opts)
    got = prepare_file(file, tokenizer=tokenizer, fractions=(0.9, 0.1), out_dir=tmp_path / "str", source="s",
                       workers=2, **opts)  # fmt: skip
    assert got == mem
    _same(tmp_path / "mem", tmp_path / "str")
    if corpus == "odd" and tokenizer == "char":
        assert mem["unk_count"]["val"] > 0  # the case the streamed vocabulary had to get right


def test_prepare_streams_a_large_stream_file_with_the_same_result(tmp_path, monkeypatch):
    """store.prepare switches to streaming at STREAM_FROM bytes; the prepared folder (meta included) is the same."""
    file = shared_file("tinyshakespeare.txt")
    cfg = DataConfig(name="s", source="file", path=str(file), kind="stream", tokenizer="char", fractions=[0.9, 0.1])
    store.prepare(cfg, tmp_path / "mem")
    calls = []
    monkeypatch.setattr(store, "STREAM_FROM", 1000)
    monkeypatch.setattr(store, "prepare_file", lambda *a, **k: calls.append(1) or prepare_file(*a, **k))
    store.prepare(cfg, tmp_path / "str")
    assert calls == [1]
    _same(tmp_path / "mem", tmp_path / "str")
    monkeypatch.setattr(store, "STREAM_FROM", 1 << 40)
    store.prepare(cfg, tmp_path / "again")  # under STREAM_FROM: in memory
    assert calls == [1]


def test_invalid_utf8_across_a_chunk_boundary_names_its_offset(tmp_path, monkeypatch):
    monkeypatch.setattr(streaming, "CHUNK", 100)
    file = tmp_path / "bad.txt"
    file.write_bytes("é".encode() * 60 + b"\xff" + b"x" * 500)  # byte 120 sits in the second chunk
    with pytest.raises(DataError) as e:
        prepare_file(file, tokenizer="char", fractions=(0.9, 0.1), out_dir=tmp_path / "p", source=f"file:{file}")
    assert str(e.value) == (
        f"file:{file} is not valid UTF-8 (byte 0xff at offset 120); fix the file's encoding (save it as UTF-8) or "
        "use tokenizer=byte"
    )
    assert not (tmp_path / "p").exists()


def test_a_corpus_too_small_for_its_splits_or_empty_is_refused(tmp_path):
    file = tmp_path / "bom.txt"
    file.write_bytes(b"\xef\xbb\xbf")
    with pytest.raises(DataError, match="the stream corpus is empty"):
        prepare_file(file, tokenizer="char", fractions=(0.9, 0.1), out_dir=tmp_path / "p", source="s")
    file.write_text("a")
    with pytest.raises(DataError, match=r"split 'train' is empty \(0.9 of 1 characters\)"):
        prepare_file(file, tokenizer="char", fractions=(0.9, 0.1), out_dir=tmp_path / "p", source="s")


@pytest.mark.parametrize("kind", ["stream", "lines"])
def test_a_disk_too_small_is_refused_before_anything_is_written(tmp_path, monkeypatch, kind):
    """A full disk cannot be made here: shutil.disk_usage reports a nearly full one. Lines: the spill (the corpus
    again and 8 bytes a line) and the arrays."""
    real = shutil.disk_usage
    monkeypatch.setattr(streaming.shutil, "disk_usage", lambda p: real(p)._replace(free=100_000))
    prepare, name, need = {"stream": (prepare_file, "tinyshakespeare.txt", "1.1 MiB"),
                           "lines": (prepare_lines_file, "names.txt", "695.9 KiB")}[kind]  # fmt: skip
    with pytest.raises(DataError) as e:
        prepare(shared_file(name), tokenizer="char", fractions=(0.9, 0.1), out_dir=tmp_path / "p", source="s")
    assert f"the prepared arrays need about {need} of disk at" in str(e.value)
    assert str(e.value).endswith("free some space or set paths.prepared to a larger disk")
    assert os.listdir(tmp_path) == []


def test_token_dtype_is_the_smallest_that_holds_the_vocabulary():
    assert [token_dtype(v) for v in (65, 256, 257, 65536, 65537)] == [np.uint8] * 2 + [np.uint16] * 2 + [np.uint32]


KILL = """
import os, signal, sys
import lmladder.data.streaming as s
from lmladder.data.streaming_lines import prepare_lines_file
from lmladder.data.tokenizers.char import CharTokenizer
s.CHUNK = 10_000  # 112 pieces (stream), 23 blocks (lines)
calls, real = [], CharTokenizer.encode_counted
def encode_counted(self, text):  # the 10th piece: train.bin half written
    calls.append(1)
    if len(calls) == 10:
        os.kill(os.getpid(), signal.SIGKILL)
    return real(self, text)
CharTokenizer.encode_counted = encode_counted
prepare = prepare_lines_file if sys.argv[3] == "lines" else s.prepare_file
prepare(sys.argv[1], tokenizer="char", fractions=(0.8, 0.2), out_dir=sys.argv[2], source="s")
"""


@pytest.mark.parametrize("kind", ["stream", "lines"])
def test_a_killed_prepare_leaves_nothing_a_later_run_uses(tmp_path, kind):
    file = shared_file("tinyshakespeare.txt" if kind == "stream" else "names.txt")
    out = tmp_path / "prepared"
    cfg = DataConfig(name="s", source="file", path=str(file), kind=kind, tokenizer="char", fractions=[0.8, 0.2])
    store.prepare(cfg, out)
    before = (out / "stats.json").read_text()
    r = subprocess.run([sys.executable, "-c", KILL, str(file), str(out), kind], capture_output=True, timeout=600)
    assert r.returncode == -signal.SIGKILL, r.stderr
    temps = [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    left = {"stream": ["train.npy", "val.npy"], "lines": ["spill", "train.npy", "val.npy"]}[kind]
    assert len(temps) == 1 and sorted(os.listdir(tmp_path / temps[0])) == left
    assert (out / "stats.json").read_text() == before  # the old folder is whole
    load_prepared(out)
    store.prepare(cfg, out)  # the next prepare removes the half-written folder
    assert sorted(os.listdir(tmp_path)) == ["prepared"]
    assert json.loads((out / "stats.json").read_text()) == json.loads(before)


def test_a_special_token_deep_in_a_split_is_named_at_its_place(tmp_path, monkeypatch):
    monkeypatch.setattr(streaming, "CHUNK", 1000)
    file = tmp_path / "eot.txt"
    speech = "First Citizen: Before we proceed any further, hear me speak.\n"
    file.write_text(speech * 300 + "<|endoftext|>\n" + speech * 50)
    kw = dict(kind="stream", tokenizer="bpe", vocab_size=260)
    with pytest.raises(DataError) as mem:
        prepare_corpus(file.read_text(), out_dir=tmp_path / "a", **kw)
    with pytest.raises(DataError) as got:
        prepare_file(file, fractions=(0.9, 0.1), out_dir=tmp_path / "b", source="s", tokenizer="bpe", vocab_size=260)
    assert str(got.value) == str(mem.value) and "(at char 18300)" in str(got.value)


def _odd_lines(path: Path) -> Path:
    """names with a byte order mark, Windows line ends, multi-byte letters and a letter only val or test has."""
    names = shared_file("names.txt").read_text().splitlines()[:3000]
    names = [n.replace("e", "é") if i % 7 == 0 else n for i, n in enumerate(names)] + ["zoë😀"]
    path.write_bytes(("\ufeff" + "\r\n".join(names)).encode())  # no final newline
    return path


def _long_lines(path: Path) -> Path:
    """Shakespeare's lines joined into documents of 1 to ~12,000 characters: some longer than a window, a read, a
    block."""
    words = shared_file("tinyshakespeare.txt").read_text()[:200_000].split()
    rng, docs, i = np.random.default_rng(0), [], 0
    while i < len(words):
        n = int(rng.choice([1, 5, 40, 2000]))
        docs.append(" ".join(words[i : i + n]))
        i += n
    path.write_text("\n".join(docs) + "\n")
    return path


@pytest.mark.parametrize("tokenizer,opts", TOKENIZERS, ids=[t for t, _ in TOKENIZERS])
@pytest.mark.parametrize("corpus", ["names", "odd", "long"])
def test_streamed_lines_equal_the_in_memory_ones(tmp_path, monkeypatch, corpus, tokenizer, opts):
    monkeypatch.setattr(streaming, "CHUNK", 997)
    monkeypatch.setattr(spill, "BLOCK", 333)  # many blocks of documents, in many windows
    monkeypatch.setattr(spill, "WINDOW", 4000)
    monkeypatch.setattr(shuffle, "JIT_FROM", 2)  # the compiled shuffle (uint32 line numbers), as large corpora take
    file = {"names": lambda p: shared_file("names.txt"), "odd": _odd_lines, "long": _long_lines}[corpus](tmp_path / "c")
    opts = {**opts, "min_count": 1} if tokenizer == "word" else opts  # a name is one word: most are seen once
    src = load_source("file", path=file)
    text = src.data if tokenizer == "byte" else src.text()
    mem = prepare_corpus(text, kind="lines", tokenizer=tokenizer, out_dir=tmp_path / "mem", source="s", **opts)
    got = prepare_lines_file(file, tokenizer=tokenizer, fractions=(0.8, 0.1, 0.1), out_dir=tmp_path / "str",
                             source="s", **opts)  # fmt: skip
    assert got == mem
    _same(tmp_path / "mem", tmp_path / "str")


@pytest.mark.parametrize("chunk", [1, 2, 3, 5, 64])
def test_lines_are_split_as_in_memory_wherever_the_pieces_end(tmp_path, monkeypatch, chunk):
    """Runs of "\\r" before a newline (stripped) that straddle pieces, "\\r"-only files, a byte order mark, no
    final newline: every line found where split_lines finds it."""
    monkeypatch.setattr(streaming, "CHUNK", chunk)
    rng = np.random.default_rng(chunk)
    cases = [b"a\r\r\r\nb\r\n", b"a\rb\rc", b"a\rb\r", b"\xef\xbb\xbfab\r\ncd", b"x\n\r\r", b"\r\r\n\r"]
    cases += [bytes(rng.choice(list(b"ab\r\n"), size=int(rng.integers(1, 40)))) for _ in range(60)]
    file = tmp_path / "c.txt"
    for data in cases:
        file.write_bytes(data)
        for reads_bytes in (True, False):
            text = data if reads_bytes else data.decode("utf-8").removeprefix("\ufeff").encode()
            pieces = streaming_lines.line_pieces(file, reads_bytes)
            got = [buf[s : s + n].tobytes() for buf, st, ln in pieces for s, n in zip(st, ln, strict=True)]
            assert got == split_lines(text)[0], (data, reads_bytes)
            assert streaming_lines.line_lengths(file, reads_bytes).tolist() == [len(d) for d in got]


@pytest.mark.parametrize(
    "data, message",
    [
        (b"anna\nbob\n\ncarl\n", "blank line 3 in a lines corpus"),
        (b"anna\nbob\r\n\r\ncarl\n", "blank line 3 in a lines corpus"),
        (b"  \n\t\n", "the lines corpus is empty"),
        (b"anna\nbob\n", r"split 'val' is empty \(0.1 of 2 lines\)"),
    ],
)
def test_bad_lines_corpora_fail_as_in_memory(tmp_path, data, message):
    file = tmp_path / "c.txt"
    file.write_bytes(data)
    with pytest.raises(DataError, match=message) as mem:
        prepare_corpus(data.decode(), kind="lines", tokenizer="char", out_dir=tmp_path / "a")
    with pytest.raises(DataError) as got:
        prepare_lines_file(file, tokenizer="char", fractions=(0.8, 0.1, 0.1), out_dir=tmp_path / "b", source="s")
    assert str(got.value) == str(mem.value)


def test_a_corpus_larger_than_the_free_disk_is_refused_before_it_is_read_unless_cached(tmp_path, monkeypatch):
    """ensure_prepared (a plain run): refused up front while nothing of this data config is cached; once prepared,
    a full disk does not stop a run from using its cache."""
    monkeypatch.setattr(store, "STREAM_FROM", 1000)
    cfg = DataConfig(name="s", source="file", path=str(shared_file("tinyshakespeare.txt")), kind="stream",
                     fractions=[0.9, 0.1])  # fmt: skip
    real = shutil.disk_usage
    full = lambda p: real(p)._replace(free=4096)  # noqa: E731
    hashed = []
    monkeypatch.setattr(store, "source_sha256", lambda *a, **k: hashed.append(1) or source_sha256(*a, **k))
    monkeypatch.setattr(streaming.shutil, "disk_usage", full)
    with pytest.raises(DataError, match=r"the prepared arrays need about 1.1 MiB of disk at .*, which has 4.0 KiB"):
        store.ensure_prepared(cfg, prepared_dir=tmp_path / "prepared", cache_root=tmp_path / "cache")
    assert hashed == []  # refused before the corpus was read
    monkeypatch.setattr(streaming.shutil, "disk_usage", real)
    prep, where = store.ensure_prepared(cfg, prepared_dir=tmp_path / "prepared", cache_root=tmp_path / "cache")
    monkeypatch.setattr(streaming.shutil, "disk_usage", full)
    again, where2 = store.ensure_prepared(cfg, prepared_dir=tmp_path / "prepared", cache_root=tmp_path / "cache")
    assert where2 == where and np.array_equal(again.splits["val"], prep.splits["val"])


def test_bpe_learns_its_merges_from_seeded_blocks_of_the_whole_train_split(tmp_path, monkeypatch):
    monkeypatch.setattr(streaming, "BPE_SAMPLE", 40_000)
    monkeypatch.setattr(streaming, "SAMPLE_BLOCK", 1_000)
    file = tmp_path / "halves.txt"
    file.write_text("alpha beta alpha\n" * 10_000 + "gamma delta gamma\n" * 10_000)  # 350,000 characters

    def prepared(seed: int, name: str):
        prepare_file(file, fractions=(0.9, 0.1), out_dir=tmp_path / name, source="s", tokenizer="bpe",
                     vocab_size=275, split_seed=seed)  # fmt: skip
        return load_prepared(tmp_path / name)

    a, again = prepared(1, "a"), prepared(1, "again")
    assert (tmp_path / "a" / "vocab.json").read_text() == (tmp_path / "again" / "vocab.json").read_text()
    assert len(a.tokenizer.encode(" delta")) == 1  # the second half's words were merged: not only the first 40,000
    pieces = list(streaming.split_pieces(file, [0, 315_000, 350_000], False, "s", True))
    samples = {s: "".join(streaming._sample(iter(pieces), 315_000, 40_000, s)) for s in (1, 2)}
    assert samples[1] != samples[2] and all(20_000 < len(t) < 60_000 for t in samples.values())  # ~BPE_SAMPLE
    assert len(again.tokenizer.encode(" alpha")) == 1
