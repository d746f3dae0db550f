"""Preparing a stream corpus bigger than memory: passes over the file, a chunk at a time.

    pass 1  the corpus's sha256 and length (characters, or bytes for tokenizer=byte); strict UTF-8 checked
    pass 2  the vocabulary: char collects the train split's characters (and whether val/test need an unknown token),
            word counts the train split's words, bpe learns its merges from about BPE_SAMPLE characters drawn
            from the whole train split in seeded blocks (all of it when it is shorter), byte learns nothing
    pass 3  each split encoded a piece at a time (bpe on every core), appended to its array on disk

Peak memory is a few pieces of CHUNK characters and the vocabulary, whatever the size of the corpus. The split
cuts are split_stream's, and a piece ends only where no token can cross it (after a newline that precedes a
non-space), so the arrays are the tokens prepare_corpus makes from the whole text in memory (tests compare them),
except that bpe's merges come from a sample of a train split longer than BPE_SAMPLE.
"""

from __future__ import annotations

import codecs
import ctypes
import hashlib
import multiprocessing as mp
import os
import shutil
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ..io.atomic import atomic_directory
from ..resources import fmt_bytes, usable_cores
from .errors import DataError
from .pin import BOM, Pin
from .prepared import EMPTY_STREAM, NpyWriter, corpus_stats, split_stats, token_dtype, write_prepared
from .registry import make_tokenizer, tokenizer_class, tokenizer_from_dict
from .splits import SPLIT_NAMES, check_cuts, check_fractions, cut_points
from .tokenizers import Tokenizer
from .tokenizers.word import split_words

CHUNK = 1 << 22  # characters (bytes) read, decoded and encoded at a time: ~100 MB of working memory
BPE_SAMPLE = 1 << 23  # characters of the train split that bpe learns its merges from
SAMPLE_BLOCK = 1 << 16  # the grain of that sample: blocks of about 64K characters
STREAMED = ("char", "byte", "word", "bpe")  # tokenizers whose tokens never cross a newline before a non-space


def read_units(path: Path, reads_bytes: bool, what: str, hasher=None) -> Iterator[str | bytes]:
    """The file in pieces of about CHUNK units: raw bytes, or strict UTF-8 text without a leading byte order
    mark (as Source.text() reads it); invalid UTF-8 is a DataError naming its offset. `hasher` is fed the bytes
    read (less that mark)."""
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    offset = 0
    with open(path, "rb") as f:
        while True:
            trim()  # the last piece's buffers, freed by now, go back to the system
            raw = f.read(CHUNK)
            if hasher is not None:
                hasher.update(raw[3:] if offset == 0 and not reads_bytes and raw[:3] == BOM else raw)
            if reads_bytes:
                if not raw:
                    return
                yield raw
                continue
            pending = len(decoder.getstate()[0])
            try:
                text = decoder.decode(raw, final=not raw)
            except UnicodeDecodeError as e:
                raise DataError(
                    f"{what} is not valid UTF-8 (byte {e.object[e.start]:#04x} at offset {offset - pending + e.start}"
                    "); fix the file's encoding (save it as UTF-8) or use tokenizer=byte"
                ) from None
            if offset == 0:
                text = text.removeprefix("\ufeff")
            offset += len(raw)
            if text:
                yield text
            if not raw:
                return


def _malloc_trim():
    """glibc's malloc_trim, or None: glibc serves buffers of a few MB, once some were freed, from a heap that grows
    with every chunk of a different size (RSS grew 340 MB over a 1 GB corpus) unless it is trimmed."""
    try:
        return ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):  # not glibc (macOS, musl)
        return None


def trim() -> None:
    if _TRIM is not None:
        _TRIM(0)


_TRIM = _malloc_trim()


def scan(pin: Pin, reads_bytes: bool) -> tuple[int, bool]:
    """Pass 1: (length in units, whether any of it is not white space); records in `pin` the sha256 of what the
    tokenizer reads (the file, less a byte order mark for text) and of the whole file."""
    hasher, n, text = pin.first_hasher(reads_bytes), 0, False
    for piece in read_units(pin.path, reads_bytes, pin.what, hasher):
        n, text = n + len(piece), text or bool(piece.strip())
    pin.first_read(hasher)
    return n, text


def split_pieces(path: Path, cuts: list[int], reads_bytes: bool, what: str, safe: bool, hasher=None):
    """(split index, piece) in file order, each piece inside one split; with `safe`, a piece ends only after a newline
    followed by a non-space (or at a split's end), so no token of a pre-split tokenizer crosses it. `hasher` is fed
    the bytes read (read_units)."""
    k, pos, carry = 0, 0, ""
    for piece in read_units(path, reads_bytes, what, hasher):
        while piece and k + 1 < len(cuts):  # a file grown since pass 1 counted it: its tail is no split's (Pin)
            take = min(len(piece), cuts[k + 1] - pos)
            head, piece, pos = piece[:take], piece[take:], pos + take
            if not safe:
                yield k, head
            else:
                carry += head
                end = _safe_end(carry) if pos < cuts[k + 1] else len(carry)
                if end:
                    yield k, carry[:end]
                    carry = carry[end:]
            if pos == cuts[k + 1]:
                k += 1


def _safe_end(text: str) -> int:
    """The largest i > 0 with text[i - 1] == "\\n" and text[i] not a space, else 0."""
    i = len(text) - 1
    while (i := text.rfind("\n", 0, i)) >= 0:
        if not text[i + 1].isspace():
            return i + 1
    return 0


# ---------------------------------------------------------------------- pass 2: the vocabulary
def build_tokenizer(name: str, path: Path, cuts: list[int], what: str, seed: int, **settings) -> Tokenizer:
    cls = tokenizer_class(name)
    if name == "byte":
        return make_tokenizer(name, kind="stream", train=b"", **settings)
    if name == "bpe":
        sample = "".join(_sample(split_pieces(path, cuts, False, what, True), cuts[1], BPE_SAMPLE, seed))
        tok = make_tokenizer(name, kind="stream", train=sample, **settings)
        done = [0] * len(cuts)  # characters of each split checked so far
        for k, piece in split_pieces(path, cuts, False, what, True):  # a special token has no newline: never cut
            tok.refuse_specials(piece, SPLIT_NAMES[k], done[k])
            done[k] += len(piece)
        return tok
    if name == "word":
        counts: Counter = Counter()
        for k, piece in split_pieces(path, cuts, False, what, True):
            if k == 0:
                counts.update(split_words(piece))
        return cls.from_counts(counts, **{k: v for k, v in settings.items() if k in cls.options})
    seen = np.zeros((2, 0x110000), dtype=bool)  # char: the code points of the train split, and of val/test
    for k, piece in split_pieces(path, cuts, False, what, False):
        seen[min(k, 1), np.frombuffer(piece.encode("utf-32-le"), dtype=np.uint32)] = True
    train, other = ("".join(map(chr, np.flatnonzero(row).tolist())) for row in seen)
    return make_tokenizer(name, kind="stream", train=train, others=[other], **settings)


def _sample(pieces, n_train: int, n: int, seed: int) -> Iterator[str]:
    """About n units of the train split: all of it when it is no longer; else blocks of about SAMPLE_BLOCK units
    (each ending where no token can cross, so joined they tokenize as apart), each kept with probability
    n / n_train by a generator seeded with split_seed: merges learned from the whole split, not its beginning."""
    rng, keep = np.random.default_rng(seed), n / n_train
    for k, piece in pieces:
        if k:
            return
        if keep >= 1:
            yield piece
            continue
        start = 0
        while start < len(piece):  # indices, not piece = piece[end:]: that copies the piece once per block
            end = _safe_after(piece, start + SAMPLE_BLOCK)
            if rng.random() < keep:
                yield piece[start:end]
            start = end


def _safe_after(text: str, i: int) -> int:
    """The smallest j >= i with text[j - 1] == "\\n" and text[j] not a space, else len(text)."""
    while (j := text.find("\n", i - 1)) >= 0 and j + 1 < len(text):
        if not text[j + 1].isspace():
            return j + 1
        i = j + 2
    return len(text)


# ---------------------------------------------------------------------- pass 3: the arrays
def check_disk(folder: Path, need: int) -> None:
    folder = next(p for p in [folder, *folder.parents] if p.exists())
    free = shutil.disk_usage(folder).free  # what an unprivileged writer may use, on every OS
    if need > free:
        raise DataError(
            f"the prepared arrays need about {fmt_bytes(need)} of disk at {folder}, which has {fmt_bytes(free)} free; "
            "free some space or set paths.prepared to a larger disk"
        )


def encode_splits(tok: Tokenizer, pin: Pin, cuts: list[int], out: Path, workers: int) -> dict:
    """Write out/<split>.npy for every split; returns stats.json's "splits" (split_stats) and "unk" per split. The
    text encoded is checked to be the text `pin` first read."""
    dtype, reads_bytes, h = token_dtype(tok.vocab_size), tok.reads_bytes, hashlib.sha256()
    names = SPLIT_NAMES[: len(cuts) - 1]
    acc = {name: {"tokens": 0, "first": None, "unk": 0, "size": 0} for name in names}
    decoders = {name: codecs.getincrementaldecoder("utf-8")("replace") for name in names}  # bytes: chars counted
    raw = {name: NpyWriter(out / f"{name}.npy", dtype) for name in names}
    try:
        pieces = split_pieces(pin.path, cuts, reads_bytes, pin.what, tok.name in ("bpe", "word"), h)
        for k, piece, ids, unk in encode_pieces(tok, pieces, workers):
            s = acc[names[k]]
            if reads_bytes:  # as text_sizes: the characters of the split's bytes after its first
                s["size"] += len(decoders[names[k]].decode(piece[1:] if s["first"] is None else piece))
            else:
                s["size"] += len(piece.encode("utf-8"))
            if s["first"] is None and len(ids):
                s["first"] = int(ids[0])
            s["tokens"] += len(ids)
            s["unk"] += unk
            raw[names[k]].write(ids)
    finally:
        for f in raw.values():
            f.close()
    pin.check(h)
    splits = {}
    for k, name in enumerate(names):
        s, units = acc[name], cuts[k + 1] - cuts[k]
        if reads_bytes:
            n_chars, n_bytes = s["size"] + len(decoders[name].decode(b"", final=True)), units - 1
        else:
            first = tok.decode([s["first"]])
            n_chars, n_bytes = units - len(first), s["size"] - len(first.encode("utf-8"))
        splits[name] = split_stats(units, None, s["tokens"], n_chars, n_bytes, s["unk"])
    return splits


def encode_pieces(tok: Tokenizer, pieces, workers: int):
    """(key, piece, ids, unknown tokens) for each (key, piece) in order, the key passed through (the split, ...);
    bpe encodes on `workers` processes, a bounded number of pieces in flight (it covers any text: no unknowns)."""
    if tok.name != "bpe" or workers <= 1:
        for k, piece in pieces:
            yield k, piece, *tok.encode_counted(piece)
        return
    ctx = mp.get_context("spawn")  # a fresh interpreter per worker: nothing of this process is copied into it
    with ctx.Pool(workers, initializer=_init_worker, initargs=(tok.to_dict(),)) as pool:
        queue = []
        for k, piece in pieces:
            queue.append((k, piece, pool.apply_async(_encode_piece, (piece,))))
            if len(queue) >= 2 * workers:
                k0, p0, r0 = queue.pop(0)
                yield k0, p0, r0.get(), 0
        for k0, p0, r0 in queue:
            yield k0, p0, r0.get(), 0


_WORKER: dict = {}


def _init_worker(d: dict) -> None:
    _WORKER["tok"] = tokenizer_from_dict(d)


def _encode_piece(piece: str) -> np.ndarray:
    return _WORKER["tok"].encode(piece)


def prepare_file(
    path: str | os.PathLike,
    *,
    tokenizer: str,
    fractions,
    out_dir: str | os.PathLike,
    source: str,
    meta: dict | None = None,
    split_seed: int = 42,
    workers: int | None = None,
    **settings,
) -> dict:
    """prepare_corpus for a stream corpus in a file, read a chunk at a time (this module's passes); returns the
    stats written to stats.json. `split_seed` draws bpe's sample of a long train split; `workers`: processes that
    encode bpe (default: every core this process may use)."""
    path, fractions = Path(path), check_fractions(fractions)
    reads_bytes = tokenizer_class(tokenizer).reads_bytes
    pin = Pin(path, source, (meta or {}).get("corpus_sha256"))
    n, _ = scan(pin, reads_bytes)
    if n == 0:
        raise DataError(EMPTY_STREAM)
    cuts = cut_points(n, fractions)
    check_cuts(cuts, fractions, "characters")
    with pin.guard():
        tok = build_tokenizer(tokenizer, path, cuts, source, split_seed, **settings)
    check_disk(Path(out_dir).absolute().parent, disk_need(cuts, token_dtype(tok.vocab_size)))
    workers = workers or usable_cores()
    with atomic_directory(out_dir) as tmp:
        with pin.guard():
            splits = encode_splits(tok, pin, cuts, tmp, workers)
        stats = corpus_stats(tok, "stream", fractions, None, source, pin.sha, meta, splits)
        write_prepared(tmp, tok, "stream", stats)
    return stats


def disk_need(cuts: list[int], dtype: np.dtype) -> int:
    """Bytes the arrays take at most: a token per unit."""
    return cuts[-1] * dtype.itemsize + NpyWriter.HEADER * (len(cuts) - 1)
