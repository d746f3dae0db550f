"""Preparing a lines corpus bigger than memory (one document per line): streaming.py's passes, by line.

    pass 1  sha256, strict UTF-8 (streaming.scan) and the byte offsets of every line
    pass 2  blank lines refused; the documents shuffled as split_lines shuffles them (random.Random(split_seed)),
            cut into splits; the vocabulary from the train split's documents in that order
    pass 3  each split's documents, in shuffled order, read BLOCK at a time and encoded as [B, w1, B, w2, ..., B]

Memory: the offsets and the shuffled order, 20 bytes per line (about 26 while the offsets are found), and one block of
documents. Reading a block's scattered documents through a map of the file also maps the pages around each (the
kernel's fault-around: all of a 1 GB file for 65,536 documents), which counts as resident until the block ends: file
pages, not memory taken. The arrays and stats are what prepare_corpus makes in memory (tests/data/test_streaming.py).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ..io.atomic import atomic_directory
from .errors import DataError
from .prepared import corpus_stats, split_stats, token_dtype, write_prepared
from .registry import make_tokenizer, tokenizer_class
from .shuffle import shuffled_range
from .sources import EMPTY_LINES, blank_line
from .splits import SPLIT_NAMES, check_cuts, check_fractions, cut_points
from .streaming import BOM, BPE_SAMPLE, CHUNK, check_disk, scan, to_npy, trim
from .tokenizers import Tokenizer
from .tokenizers.word import split_words

BLOCK = 1 << 16  # documents read and encoded at a time


def line_offsets(path: Path, reads_bytes: bool) -> tuple[np.ndarray, np.ndarray]:
    """(start, end) byte offsets of every line, its newline and trailing "\\r"s excluded (a final newline ends the
    last line; "\\r" separates the lines of a file without any "\\n", as corpus_lines splits them)."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(3)
    first = 3 if not reads_bytes and head == BOM else 0
    for sep in (b"\n", b"\r"):
        found = _positions(path, sep)
        if len(found) or sep == b"\r":
            break
    n = len(found)  # filled in place: 8 bytes a line for each array, no temporaries
    starts, ends = np.empty(n + 1, dtype=np.int64), np.empty(n + 1, dtype=np.int64)
    starts[0], ends[n] = first, size
    np.add(found, 1, out=starts[1:])
    ends[:n] = found
    del found
    if starts[-1] == size:  # the newline that ends the last line
        starts, ends = starts[:-1], ends[:-1]
    while True:
        before = np.subtract(ends, 1)
        np.maximum(before, 0, out=before)
        cr = (ends > starts) & (_bytes_at(path, before) == ord("\r"))
        del before
        if not cr.any():
            return starts, ends
        np.subtract(ends, cr, out=ends)  # rstrip("\r"), one "\r" a round


def _positions(path: Path, sep: bytes) -> np.ndarray:
    found, offset = [], 0
    with open(path, "rb") as f:
        while raw := f.read(CHUNK):
            found.append(np.flatnonzero(np.frombuffer(raw, dtype=np.uint8) == sep[0]) + offset)
            offset += len(raw)
            trim()
    return np.concatenate(found) if found else np.zeros(0, dtype=np.int64)


def _bytes_at(path: Path, offsets: np.ndarray) -> np.ndarray:
    """The file's bytes at ascending `offsets`, read a chunk at a time."""
    out, i, offset = np.zeros(len(offsets), dtype=np.uint8), 0, 0
    with open(path, "rb") as f:
        while i < len(offsets) and (raw := f.read(CHUNK)):
            j = int(np.searchsorted(offsets, offset + len(raw)))
            out[i:j] = np.frombuffer(raw, dtype=np.uint8)[offsets[i:j] - offset]
            i, offset = j, offset + len(raw)
    return out


def blocks(path: Path, starts, ends, order) -> Iterator[tuple[int, bytes]]:
    """(documents, their bytes joined by "\\n") for order[0], order[1], ..., about CHUNK bytes or BLOCK documents at
    a time: one gather from a map of the file, made afresh per block so its pages do not stay resident. Lengths
    are looked up a block at a time (for a whole split they took 40 bytes a document)."""
    a = 0
    while a < len(order):
        near = order[a : a + BLOCK]
        lens = ends[near] - starts[near]
        cum = np.cumsum(lens + 1)  # a block ends before the document that would take it past CHUNK bytes
        b = a + min(max(int(np.searchsorted(cum, cum[0] + CHUNK)), 1), len(near))
        idx, n = order[a:b], lens[: b - a]
        at = np.concatenate([[0], np.cumsum(n + 1)[:-1]])  # where each document starts in the block
        buf = np.full(int(n.sum()) + len(idx) - 1, ord("\n"), dtype=np.uint8)
        src = np.repeat(starts[idx] - at, n) + _ranges_of(at, n)
        if len(src):
            data = np.memmap(path, dtype=np.uint8, mode="r")
            buf[_ranges_of(at, n)] = data[src]
            del data
        yield len(idx), buf.tobytes()
        a = b
        trim()


def _ranges_of(at: np.ndarray, n: np.ndarray) -> np.ndarray:
    """The concatenated ranges at[i] ... at[i] + n[i] - 1."""
    return np.repeat(at - np.cumsum(n) + n, n) + np.arange(int(n.sum()))


def documents(path: Path, starts, ends, order, reads_bytes: bool) -> Iterator[tuple[int, str | bytes]]:
    """blocks(), decoded unless the tokenizer reads bytes."""
    for count, data in blocks(path, starts, ends, order):
        yield count, data if reads_bytes else data.decode("utf-8")


def split_order(path: Path, starts, ends, fractions, seed: int, has_text: bool) -> list[np.ndarray]:
    """Every split's documents (line numbers) in split_lines's order; blank lines and a corpus without text refused
    as corpus_lines refuses them."""
    if not has_text:
        raise DataError(EMPTY_LINES)
    if (blank := np.flatnonzero(ends == starts)).size:
        raise blank_line(int(blank[0]))
    fr = check_fractions(fractions)
    order = shuffled_range(len(starts), seed)  # split_lines's shuffle: the permutation depends on the length only
    cuts = cut_points(len(order), fr)
    check_cuts(cuts, fr, "lines")
    return [order[a:b] for a, b in zip(cuts[:-1], cuts[1:], strict=True)]


def build_lines_tokenizer(name: str, path: Path, starts, ends, parts, **settings) -> Tokenizer:
    cls = tokenizer_class(name)
    if cls.reads_bytes:
        return make_tokenizer(name, kind="lines", train=b"", **settings)
    train = documents(path, starts, ends, parts[0], False)
    if name == "word":
        counts: Counter = Counter()
        for _, text in train:
            counts.update(split_words(text))
        return cls.from_counts(counts, lines=True, **{k: v for k, v in settings.items() if k in cls.options})
    if name == "bpe":
        sample, n = [], 0
        for _, text in train:
            sample.append(text)
            n += len(text)
            if n >= BPE_SAMPLE:
                break
        tok = make_tokenizer(name, kind="lines", train="\n" + "\n".join(sample) + "\n", **settings)
        for k, part in enumerate(parts):
            done = 1  # a split's text starts with the boundary
            for _, text in documents(path, starts, ends, part, False):
                tok.refuse_specials(text, SPLIT_NAMES[k], done)
                done += len(text) + 1
        return tok
    seen = np.zeros((2, 0x110000), dtype=bool)  # char: the code points of the train documents, and of val/test's
    for k, part in enumerate(parts):
        for _, text in documents(path, starts, ends, part, False):
            seen[min(k, 1), np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)] = True
    train_chars, other = ("".join(map(chr, np.flatnonzero(row).tolist())) for row in seen)
    return make_tokenizer(name, kind="lines", train=train_chars, others=[other], **settings)


def encode_lines(tok: Tokenizer, path: Path, starts, ends, parts, out: Path) -> dict:
    """out/<split>.npy for every split, [B, w1, B, w2, ..., B]; returns stats.json's "splits" (+ "unk")."""
    dtype, splits = token_dtype(tok.vocab_size), {}
    nl = b"\n" if tok.reads_bytes else "\n"
    for k, part in enumerate(parts):
        name, tokens, units, n_bytes, n_chars, unk = SPLIT_NAMES[k], 0, 0, 0, 0, 0
        with open(out / f"{name}.bin", "wb") as f:
            for a, (count, block) in enumerate(documents(path, starts, ends, part, tok.reads_bytes)):
                text = (nl if a == 0 else nl[:0]) + block + nl
                ids = tok.encode(text)
                f.write(ids.astype(dtype).tobytes())
                tokens, unk = tokens + len(ids), unk + tok.count_unknown(text)
                units += len(block) - (count - 1)  # the documents' characters (bytes), without the "\n"s
                if tok.reads_bytes:  # as text_sizes: the characters the split's bytes after the first decode to
                    n_chars += len(block.decode("utf-8", errors="replace")) + 1
                else:
                    n_bytes += len(block.encode("utf-8")) + 1
        to_npy(out / f"{name}.bin", out / f"{name}.npy", dtype)
        n_chars, n_bytes = (n_chars, units + len(part)) if tok.reads_bytes else (units + len(part), n_bytes)
        splits[name] = split_stats(units, len(part), tokens, n_chars, n_bytes, unk)
    return splits


def prepare_lines_file(
    path, *, tokenizer: str, fractions, split_seed: int = 42, out_dir, source: str, meta=None, **settings
) -> dict:
    """prepare_corpus for a lines corpus in a file, read a block of documents at a time; returns the stats."""
    path = Path(path)
    reads_bytes = tokenizer_class(tokenizer).reads_bytes
    _, sha, has_text = scan(path, reads_bytes, source)
    starts, ends = line_offsets(path, reads_bytes)
    parts = split_order(path, starts, ends, fractions, split_seed, has_text)
    tok = build_lines_tokenizer(tokenizer, path, starts, ends, parts, **settings)
    check_disk(Path(out_dir).absolute().parent, 2 * path.stat().st_size * token_dtype(tok.vocab_size).itemsize)
    with atomic_directory(out_dir) as tmp:
        splits = encode_lines(tok, path, starts, ends, parts, tmp)
        stats = corpus_stats(tok, "lines", tokenizer, check_fractions(fractions), split_seed, source, sha, meta, splits)
        write_prepared(tmp, tok, "lines", stats)
    return stats
