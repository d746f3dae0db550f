"""Preparing a lines corpus bigger than memory (one document per line): streaming.py's passes, by line.

    pass 1  sha256 and strict UTF-8 (streaming.scan); the length of every line (two reads: counted, filled)
    pass 2  blank lines refused; the documents shuffled as split_lines shuffles them (random.Random(split_seed)),
            cut into splits, and spilled in that order (spill.py: one read of the file from start to end)
    pass 3  the vocabulary from the spilled train documents; each split read back a block at a time, in shuffled
            order, and encoded as [B, w1, B, w2, ..., B] (bpe on every core)

Memory: 8 bytes per line while the lines are spilled (their lengths and the shuffle's inverse; 12 while that is
computed), then a spill window (~130 MB). The arrays and stats are what prepare_corpus makes in memory
(tests/data/test_streaming.py).
"""

from __future__ import annotations

import hashlib
import shutil
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ..io.atomic import atomic_directory
from ..resources import check_fits, usable_cores
from . import streaming
from .bytes_jit import mark_chars
from .errors import DataError
from .pin import Pin
from .prepared import NpyWriter, corpus_stats, split_stats, token_dtype, write_prepared
from .registry import make_tokenizer, tokenizer_class
from .shuffle import shuffled_range
from .sources import EMPTY_LINES, blank_line
from .spill import Spill
from .splits import SPLIT_NAMES, check_cuts, check_fractions, cut_points
from .streaming import BOM, BPE_SAMPLE, check_disk, encode_pieces, scan, trim
from .tokenizers import Tokenizer
from .tokenizers.word import split_words

LINE_BYTES = 16  # memory per byte of the longest line: ~13 was seen for one 300 MB line (issue 47: bytes, str, ids)


def line_pieces(path: Path, reads_bytes: bool, hasher=None) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """The file's lines in order, about CHUNK bytes at a time: (bytes holding whole lines, where each line starts in
    them, its length), its newline and trailing "\\r"s excluded (a final newline ends the last line; "\\r" separates
    the lines of a file without any "\\n", as corpus_lines splits them). `hasher` is fed the bytes read (as
    streaming.read_units feeds it: a text's byte order mark left out)."""
    with open(path, "rb") as f:
        skip = 3 if not reads_bytes and f.read(3) == BOM else 0
    sep, carry = _separator(path), b""  # carry: the start of a line no piece has ended yet
    with open(path, "rb") as f:
        f.seek(skip)
        while True:
            raw = f.read(streaming.CHUNK)
            if hasher is not None:
                hasher.update(raw)
            joined = carry + raw
            buf = np.frombuffer(joined, dtype=np.uint8)
            pos = np.flatnonzero(buf == sep)
            if not raw and len(buf):  # the last line, which no newline ended
                pos = np.append(pos, len(buf))
            if len(pos):
                starts = np.concatenate([[0], pos[:-1] + 1])
                ends = pos - _returns_before(buf, pos) if sep == ord("\n") else pos
                yield buf, starts, ends - starts
            if not raw:
                return
            carry = joined[int(pos[-1]) + 1 :] if len(pos) else joined
            trim()


def line_lengths(path: Path, reads_bytes: bool) -> np.ndarray:
    """Every line's length (line_pieces), 4 bytes a line below 4 GiB: counted, then filled in place."""
    n, m = _count(path, bytes([_separator(path)])) + 1, 0
    lens = np.empty(n, dtype=np.uint32 if path.stat().st_size < 1 << 32 else np.int64)
    for _, _, ln in line_pieces(path, reads_bytes):
        lens[m : m + len(ln)] = ln
        m += len(ln)
    return lens[:m]


def _separator(path: Path) -> int:
    """ "\\n", or "\\r" in a file without any "\\n"."""
    with open(path, "rb") as f:
        while raw := f.read(streaming.CHUNK):
            if b"\n" in raw:
                return ord("\n")
    return ord("\r")


def _count(path: Path, sep: bytes) -> int:
    n = 0
    with open(path, "rb") as f:
        while raw := f.read(streaming.CHUNK):
            n += raw.count(sep)
    return n


def _returns_before(buf: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """How many "\\r"s come right before each position (a line's "\\r\\n", or more "\\r"s: all are stripped)."""
    k, live = np.zeros(len(pos), dtype=np.int64), np.ones(len(pos), dtype=bool)
    while True:
        at = pos - k - 1
        live &= at >= 0
        live[live] = buf[at[live]] == ord("\r")
        if not live.any():
            return k
        k += live


def split_order(lens, fractions, seed: int, has_text: bool) -> tuple[np.ndarray, list[int]]:
    """The documents (line numbers) in split_lines's order, and where each split starts in it (then the end); blank
    lines and a corpus without text refused as corpus_lines refuses them."""
    if not has_text:
        raise DataError(EMPTY_LINES)
    if (blank := np.flatnonzero(lens == 0)).size:
        raise blank_line(int(blank[0]))
    fr = check_fractions(fractions)
    order = shuffled_range(len(lens), seed)  # split_lines's shuffle: the permutation depends on the length only
    cuts = cut_points(len(order), fr)
    check_cuts(cuts, fr, "lines")
    return order, cuts


def spill_lines(pin: Pin, reads_bytes: bool, has_text: bool, fractions, seed: int, folder: Path) -> Spill:
    """Passes 1 and 2: the lines found, shuffled and split, and spilled in that order under `folder` (their lengths
    and the shuffle, 8 bytes a line, are dropped on return); the text spilled is checked to be what `pin` first
    read."""
    path, h = pin.path, hashlib.sha256()
    with pin.guard():
        lens = line_lengths(path, reads_bytes)
        _check_longest(int(lens.max(initial=0)), pin.what)
        order, cuts = split_order(lens, fractions, seed, has_text)
        check_disk(folder.parent.parent, Spill.disk_need(path, len(order)) + path.stat().st_size)
        spill = Spill(folder, line_pieces(path, reads_bytes, h), lens, order, cuts, path.stat().st_size)
    pin.check(h)
    return spill


def _check_longest(longest: int, what: str) -> None:
    """A document is read, decoded and encoded whole: the longest line sets the memory a lines corpus needs."""
    check_fits(
        longest * LINE_BYTES,
        f"preparing {what} as a lines corpus (its longest line is {longest:,} bytes, about {LINE_BYTES} bytes of "
        "memory per byte of a line)",
        "break it into lines (one document per line), or prepare it as data.kind=stream",
    )


def texts(spill: Spill, k: int) -> Iterator[str]:
    for _, data in spill.blocks(k):
        yield data.decode("utf-8")


def build_lines_tokenizer(name: str, spill: Spill, **settings) -> Tokenizer:
    cls = tokenizer_class(name)
    if cls.reads_bytes:
        return make_tokenizer(name, kind="lines", train=b"", **settings)
    if name == "word":
        counts: Counter = Counter()
        for text in texts(spill, 0):
            counts.update(split_words(text))
        return cls.from_counts(counts, lines=True, **{k: v for k, v in settings.items() if k in cls.options})
    splits = range(len(spill.cuts) - 1)
    if name == "bpe":
        sample, n = [], 0
        for text in texts(spill, 0):
            sample.append(text)
            n += len(text)
            if n >= BPE_SAMPLE:
                break
        tok = make_tokenizer(name, kind="lines", train="\n" + "\n".join(sample) + "\n", **settings)
        for k in splits:
            done = 1  # a split's text starts with the boundary
            for text in texts(spill, k):
                tok.refuse_specials(text, SPLIT_NAMES[k], done)
                done += len(text) + 1
        return tok
    seen = np.zeros((2, 0x110000), dtype=bool)  # char: the code points of the train documents, and of val/test's
    for k in splits:
        for data in spill.unordered(k):
            mark_chars(data, seen[min(k, 1)])
    train_chars, other = ("".join(map(chr, np.flatnonzero(row).tolist())) for row in seen)
    return make_tokenizer(name, kind="lines", train=train_chars, others=[other], **settings)


def encode_lines(tok: Tokenizer, spill: Spill, out: Path, workers: int) -> dict:
    """out/<split>.npy for every split, [B, w1, B, w2, ..., B] (bpe encoded on `workers` processes); returns
    stats.json's "splits" (+ "unk")."""
    dtype, n = token_dtype(tok.vocab_size), len(spill.cuts) - 1
    raw = tok.reads_bytes or tok.name == "char"  # char reads UTF-8 bytes without decoding them (bytes_jit.py)
    nl = b"\n" if raw else "\n"

    def pieces():  # ((split, documents, bytes), text to encode)
        for k in range(n):
            for a, (count, data) in enumerate(spill.blocks(k)):
                yield (k, count, data), (nl if a == 0 else nl[:0]) + (data if raw else data.decode("utf-8")) + nl

    acc = [{"tokens": 0, "docs": 0, "bytes": 0, "chars": 0, "unk": 0} for _ in range(n)]
    files = [NpyWriter(out / f"{SPLIT_NAMES[k]}.npy", dtype) for k in range(n)]
    try:
        for (k, count, data), _, ids, unknown in encode_pieces(tok, pieces(), workers):
            files[k].write(ids)
            s = acc[k]
            s["tokens"], s["unk"], s["docs"] = s["tokens"] + len(ids), s["unk"] + unknown, s["docs"] + count
            s["bytes"] += len(data) + 1  # the split's text: its documents, each with a "\n", after the first "\n"
            s["chars"] += (len(data.decode("utf-8", errors="replace")) if tok.reads_bytes else _chars(data)) + 1
    finally:
        for f in files:
            f.close()
    splits = {}
    for k, s in enumerate(acc):
        units = (s["bytes"] if tok.reads_bytes else s["chars"]) - s["docs"]  # the documents', without the "\n"s
        splits[SPLIT_NAMES[k]] = split_stats(units, s["docs"], s["tokens"], s["chars"], s["bytes"], s["unk"])
    return splits


def prepare_lines_file(
    path, *, tokenizer: str, fractions, split_seed: int = 42, out_dir, source: str, meta=None, workers=None, **settings
) -> dict:
    """prepare_corpus for a lines corpus in a file, read a block of documents at a time; returns the stats.
    `workers`: processes that encode bpe (default: every core this process may use)."""
    path = Path(path)
    reads_bytes = tokenizer_class(tokenizer).reads_bytes
    pin = Pin(path, source, (meta or {}).get("corpus_sha256"))
    _, has_text = scan(pin, reads_bytes)
    with atomic_directory(out_dir) as tmp:
        spill = spill_lines(pin, reads_bytes, has_text, fractions, split_seed, tmp / "spill")
        tok = build_lines_tokenizer(tokenizer, spill, **settings)
        check_disk(tmp.parent, (path.stat().st_size + 3) * token_dtype(tok.vocab_size).itemsize)  # a token a byte
        splits = encode_lines(tok, spill, tmp, workers or usable_cores())
        shutil.rmtree(spill.folder)
        stats = corpus_stats(tok, "lines", check_fractions(fractions), split_seed, source, pin.sha, meta, splits)
        write_prepared(tmp, tok, "lines", stats)
    return stats


def _chars(data: bytes) -> int:
    """The characters of valid UTF-8: its bytes less the continuation bytes (10xxxxxx)."""
    return len(data) - int(np.count_nonzero((np.frombuffer(data, dtype=np.uint8) & 0xC0) == 0x80))
