"""Prepared data on disk: one flat token array per split (.npy, memory-mappable), vocab.json and stats.json.

    out_dir/train.npy, val.npy[, test.npy]   1-D token ids: uint8 (vocab <= 256), uint16 (<= 65,536) or uint32
    out_dir/vocab.json                       tokenizer dict + {"kind", "boundary_id"}
    out_dir/stats.json                       per split: tokens, predicted chars/bytes, unknown tokens; vocab, source
    out_dir/manifest.json                    sha256 of each file above, checked by load_prepared (manifest.py)

A lines split is [B, w1..., B, w2..., B]: it starts and ends with the boundary B, so its predicted tokens
(len - 1) are sum(len(word) + 1), the end token included. The directory is replaced whole or not at all.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..io.atomic import atomic_directory
from .errors import DataError
from .manifest import verify, write_manifest
from .registry import make_tokenizer, tokenizer_from_dict
from .sources import corpus_lines, sha256_hex
from .splits import DEFAULT_FRACTIONS, SPLIT_NAMES, split_lines, split_stream
from .tokenizers import Tokenizer

KINDS = ("stream", "lines")
EMPTY_STREAM = "the stream corpus is empty; point path= at a non-empty text file"
PREPARE_HINT = "run `dvc repro prepare` or `python stages/prepare.py`"


def text_sizes(tok: Tokenizer, text: str | bytes, ids: np.ndarray) -> tuple[int, int]:
    """(characters, UTF-8 bytes) of the text a split's predicted tokens (all but the first) stand for: the
    denominators of bits per character and per byte, the same for every tokenizer of one text."""
    if isinstance(text, bytes):  # the byte tokenizer's raw file: one token per byte
        return len(text[1:].decode("utf-8", errors="replace")), len(text) - 1
    first = tok.decode(ids[:1])
    n_bytes = len(text.encode("utf-8", "surrogatepass")) - len(first.encode("utf-8", "surrogatepass"))
    return len(text) - len(first), n_bytes


def prepare_corpus(
    text: str | bytes,
    *,
    kind: str,
    tokenizer: str,
    fractions: Sequence[float] | None = None,
    split_seed: int = 42,
    out_dir: str | os.PathLike,
    source: str = "",
    meta: dict[str, Any] | None = None,
    **settings: Any,
) -> dict[str, Any]:
    """Split, tokenize and write `out_dir` atomically; returns the stats written to stats.json.

    `text` is a str, or raw bytes for a tokenizer that reads bytes ("byte": any file works, valid UTF-8 or not).
    `settings` are the tokenizer's own settings, the fields of its block in DataConfig (vocab_size=, pattern= for
    "bpe"; min_count= for "word").
    `meta` (e.g. the data config that produced it) is stored in stats.json under "meta".
    """
    if kind not in KINDS:
        raise DataError(f"kind={kind!r} is unknown; choose {' or '.join(KINDS)}")
    fractions = tuple(DEFAULT_FRACTIONS[kind] if fractions is None else fractions)
    if kind == "lines":
        parts = split_lines(corpus_lines(text), fractions, seed=split_seed)
        nl = "\n" if isinstance(text, str) else b"\n"
        texts = {k: nl + nl.join(v) + nl for k, v in parts.items()}  # [B, w1, B, w2, ..., B]
    else:
        if not text:
            raise DataError(EMPTY_STREAM)
        parts = texts = split_stream(text, fractions)
    others = [texts[k] for k in texts if k != "train"]
    tok = make_tokenizer(tokenizer, kind=kind, train=texts["train"], others=others, **settings)
    arrays = {k: tok.encode(t).astype(token_dtype(tok.vocab_size)) for k, t in texts.items()}
    splits = {}
    for k, a in arrays.items():
        n_chars, n_bytes = text_sizes(tok, texts[k], a)
        chars = sum(map(len, parts[k])) if kind == "lines" else len(parts[k])  # str: chars, bytes: bytes
        lines = len(parts[k]) if kind == "lines" else None
        splits[k] = split_stats(chars, lines, int(a.size), n_chars, n_bytes, tok.count_unknown(texts[k]))
    sha = sha256_hex(text if isinstance(text, bytes) else text.encode("utf-8"))
    stats = corpus_stats(tok, kind, fractions, split_seed, source, sha, meta, splits)
    with atomic_directory(out_dir) as tmp:
        for k, a in arrays.items():
            np.save(tmp / f"{k}.npy", a, allow_pickle=False)
        write_prepared(tmp, tok, kind, stats)
    return stats


def split_stats(chars: int, lines: int | None, tokens: int, n_chars: int, n_bytes: int, unk: int) -> dict[str, Any]:
    """stats.json's entry for one split: its size in characters (bytes, for tokenizer=byte), lines and tokens, the
    characters and bytes its predicted tokens stand for (text_sizes) and its unknown tokens."""
    return {
        "chars": chars,
        "lines": lines,
        "tokens": tokens,
        "predicted_tokens": tokens - 1,
        "predicted_chars": n_chars,
        "predicted_bytes": n_bytes,
        "unk_rate": unk / max(tokens, 1),  # share of the split's tokens that are unknown
        "unk": unk,
    }


def corpus_stats(tok, kind, fractions, split_seed, source, sha, meta, splits) -> dict[str, Any]:
    """stats.json: where the corpus came from (`source`, its `sha`, the `meta` of the config that prepared it), how
    it was split and tokenized by `tok`, and each split's sizes (`splits`, split_stats's entries)."""
    return {
        "source": source,
        "sha256": sha,
        "kind": kind,
        "tokenizer": tok.name,
        "tokenizer_label": tok.describe(),
        "fractions": list(fractions),
        "split_seed": split_seed if kind == "lines" else None,
        "vocab_size": tok.vocab_size,
        "boundary_id": tok.boundary_id,
        "unk_token": tok.unk,
        "unk_count": {k: s.pop("unk") for k, s in splits.items()},
        "meta": meta or {},
        "splits": splits,
    }


def write_prepared(tmp: Path, tok: Tokenizer, kind: str, stats: dict[str, Any]) -> None:
    """vocab.json, stats.json and (last) manifest.json into a prepared folder whose arrays are written."""
    vocab = {**tok.to_dict(), "kind": kind, "boundary_id": tok.boundary_id}
    (tmp / "vocab.json").write_text(json.dumps(vocab, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (tmp / "stats.json").write_text(json.dumps(stats, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    write_manifest(tmp)


def token_dtype(vocab_size: int) -> np.dtype:
    """The smallest unsigned integer type that holds every id."""
    return np.dtype(np.uint8 if vocab_size <= 256 else np.uint16 if vocab_size <= 65536 else np.uint32)


class NpyWriter:
    """A 1-d .npy file of `dtype` written a piece at a time: numpy pads a 1-d header to 128 bytes whatever the
    length, so a header for length 0 goes first and the real one over it at close (no second copy of the ids)."""

    HEADER = 128

    def __init__(self, path: Path, dtype: np.dtype):
        self.dtype, self.file = dtype, open(path, "wb")  # noqa: SIM115 (closed by close())
        self._header(0)

    def __enter__(self) -> NpyWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def write(self, ids: np.ndarray) -> None:
        self.file.write(np.ascontiguousarray(ids, dtype=self.dtype).data)

    def close(self) -> None:
        if not self.file.closed:
            n = (self.file.tell() - self.HEADER) // self.dtype.itemsize
            self.file.seek(0)
            self._header(n)
            self.file.close()

    def _header(self, n: int) -> None:
        header = {"descr": self.dtype.str, "fortran_order": False, "shape": (n,)}
        np.lib.format.write_array_header_1_0(self.file, header)
        if self.file.tell() != self.HEADER:  # numpy changed its padding: the ids would be misread
            raise RuntimeError(f".npy header of {self.file.tell()} bytes, not {self.HEADER}")


@dataclass
class Prepared:
    tokenizer: Tokenizer
    kind: str  # "stream" or "lines"
    boundary_id: int | None
    splits: dict[str, np.ndarray]  # "train"/"val"[/"test"] -> read-only memory-mapped 1-D token ids
    stats: dict[str, Any]

    @property
    def vocab_size(self) -> int:
        return self.tokenizer.vocab_size


def load_prepared(path: str | os.PathLike) -> Prepared:
    """Open a prepared directory (arrays memory-mapped) and check it is complete and consistent."""
    path = Path(path)
    if not path.is_dir():
        raise DataError(f"prepared data not found at {str(path)!r}; {PREPARE_HINT}")
    verify(path, PREPARE_HINT)  # before anything is parsed: an edited file is named as edited
    vocab, stats = _read_json(path / "vocab.json"), _read_json(path / "stats.json")
    tok = tokenizer_from_dict(vocab)
    kind, boundary = vocab.get("kind"), vocab.get("boundary_id")
    if kind not in KINDS or boundary != tok.boundary_id or (kind == "lines") != (boundary is not None):
        raise DataError(f"{path / 'vocab.json'} has kind={kind!r}, boundary_id={boundary!r}; {PREPARE_HINT} again")
    names = [n for n in SPLIT_NAMES if (path / f"{n}.npy").exists()]
    if names[:2] != ["train", "val"]:
        missing = [n for n in ("train", "val") if n not in names]
        raise DataError(f"prepared data at {str(path)!r} lacks {missing[0]}.npy; {PREPARE_HINT}")
    splits = {n: _open_split(path / f"{n}.npy", tok.vocab_size, kind, boundary) for n in names}
    return Prepared(tok, kind, boundary, splits, stats)


def _read_json(file: Path) -> dict[str, Any]:
    if not file.is_file():
        raise DataError(f"prepared data at {str(file.parent)!r} lacks {file.name}; {PREPARE_HINT}")
    try:
        d = json.loads(file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DataError(f"{file} is not valid JSON ({e}); {PREPARE_HINT} again") from None
    if not isinstance(d, dict):
        raise DataError(f"{file} must hold a JSON object; {PREPARE_HINT} again")
    return d


def _open_split(file: Path, vocab_size: int, kind: str, boundary: int | None) -> np.ndarray:
    try:
        a = np.load(file, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError) as e:
        raise DataError(f"cannot read {file} ({e}); {PREPARE_HINT} again") from None
    if a.ndim != 1 or a.dtype not in (np.uint8, np.uint16, np.uint32) or a.size == 0:
        raise DataError(f"{file} holds {a.dtype} {a.shape}, expected non-empty 1-D uint8/16/32; {PREPARE_HINT} again")
    if (top := _max_id(a)) >= vocab_size:
        raise DataError(f"{file} has token id {top} >= vocab size {vocab_size}; {PREPARE_HINT} again")
    if kind == "lines" and (a[0] != boundary or a[-1] != boundary):
        raise DataError(f"{file} must start and end with the boundary id {boundary}; {PREPARE_HINT} again")
    return a


def _max_id(a: np.memmap) -> int:
    """The largest id, read a block at a time rather than through the map, whose pages would stay resident."""
    top = 0
    with open(a.filename, "rb") as f:
        f.seek(a.offset)
        while (block := np.fromfile(f, dtype=a.dtype, count=1 << 24)).size:
            top = max(top, int(block.max()))
    return top
