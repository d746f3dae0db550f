"""Character and byte tokenizers: text <-> int64 id arrays, with a JSON-able dict form for vocab.json.

A lines corpus (one document per line, e.g. names) has a boundary token that both starts and ends every
document; it decodes to "\\n", so `encode("\\n" + "\\n".join(lines) + "\\n")` is the flat [B, w1..., B, w2..., B]
layout. makemore's names vocabulary falls out exactly: boundary 0 ('.' there), then a..z = 1..26.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, ClassVar

import numpy as np

from .errors import DataError

DEFAULT_UNK = "\ufffd"  # the Unicode replacement character stands in for characters the training split never had


class Tokenizer:
    type: ClassVar[str] = ""
    vocab_size: int
    boundary_id: int | None  # separator token of a lines corpus, None for a stream

    def encode(self, text: str) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def decode(self, ids) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _check_ids(self, ids) -> np.ndarray:
        ids = np.asarray(ids).reshape(-1)
        if ids.size and ids.dtype.kind not in "iu":
            raise DataError(f"{type(self).__name__}.decode: ids must be integers, got {ids.dtype}; pass token ids")
        if ids.size and (ids.min() < 0 or ids.max() >= self.vocab_size):
            bad = ids[(ids < 0) | (ids >= self.vocab_size)][0]
            raise DataError(
                f"{type(self).__name__}.decode: id {int(bad)} outside [0, {self.vocab_size}); "
                "decode with the tokenizer the ids were made with (the run's vocab.json)"
            )
        return ids


class ByteTokenizer(Tokenizer):
    """UTF-8 bytes, vocab 256: encodes any text, never needs an unknown token."""

    type = "byte"
    vocab_size = 256

    def __init__(self, lines: bool = False):
        self.lines = bool(lines)
        self.boundary_id = 10 if self.lines else None  # b"\n" separates the documents of a lines corpus

    def encode(self, text: str | bytes) -> np.ndarray:
        data = text if isinstance(text, bytes | bytearray) else text.encode("utf-8")
        return np.frombuffer(data, dtype=np.uint8).astype(np.int64)

    def decode(self, ids) -> str:
        return self._check_ids(ids).astype(np.uint8).tobytes().decode("utf-8", errors="replace")

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "lines": self.lines}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ByteTokenizer:
        return cls(lines=d.get("lines", False))


class CharTokenizer(Tokenizer):
    """One id per character: [boundary "\\n" if lines] + chars (in the given order) + [unk if declared]."""

    type = "char"

    def __init__(self, chars: Sequence[str], *, lines: bool = False, unk: str | None = None):
        chars = list(chars)
        if any(len(c) != 1 for c in chars) or len(set(chars)) != len(chars):
            raise DataError(
                "CharTokenizer: chars must be distinct single characters; build it with CharTokenizer.build"
            )
        if lines and "\n" in chars:
            raise DataError("CharTokenizer: a lines vocabulary cannot hold '\\n' (it is the boundary token, id 0)")
        if unk is not None and len(unk) != 1:
            raise DataError(f"CharTokenizer: unk must be one character, got {unk!r}; use the default {DEFAULT_UNK!r}")
        self.lines, self.chars, self.unk = bool(lines), chars, unk
        itos = (["\n"] if self.lines else []) + chars
        if unk is not None and unk not in itos:
            itos.append(unk)
        self.itos = itos
        self.vocab_size = len(itos)
        self.boundary_id = 0 if self.lines else None
        self.unk_id = itos.index(unk) if unk is not None else None
        codes = np.array([ord(c) for c in itos], dtype=np.int64)
        order = np.argsort(codes, kind="stable")
        self._codes, self._ids = codes, order  # sorted lookup: code -> id via searchsorted
        self._sorted_codes = codes[order]

    @classmethod
    def build(cls, train_text: str, *, lines: bool = False, others: Iterable[str] = (), unk: str = DEFAULT_UNK):
        """Vocabulary from the training split only; an unk token is added only if `others` (val/test) need one."""
        chars = set(train_text) - ({"\n"} if lines else set())
        unseen = set().union(*(set(o) for o in others)) - chars - ({"\n"} if lines else set())
        return cls(sorted(chars), lines=lines, unk=unk if unseen else None)

    def _lookup(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """(ids, known mask) for every character of text, vectorised over its code points."""
        codes = np.frombuffer(text.encode("utf-32-le", errors="surrogatepass"), dtype=np.uint32).astype(np.int64)
        pos = np.minimum(np.searchsorted(self._sorted_codes, codes), len(self._sorted_codes) - 1)
        known = self._sorted_codes[pos] == codes
        return self._ids[pos], known

    def count_unknown(self, text: str) -> int:
        """How many characters of text are outside the vocabulary proper (they encode to unk, if declared)."""
        ids, known = self._lookup(text)
        if self.unk_id is not None and self.unk not in self.chars:
            known &= ids != self.unk_id  # a literal unk character was not in train either
        return int((~known).sum())

    def first_unknown(self, text: str) -> tuple[int, str] | None:
        """(position, character) of the first character with no id (not even unk), or None if all encode."""
        _, known = self._lookup(text)
        if self.unk_id is not None or known.all():
            return None
        i = int(np.argmin(known))
        return i, text[i]

    def encode(self, text: str) -> np.ndarray:
        ids, known = self._lookup(text)
        if not known.all():
            if self.unk_id is None:
                i, c = self.first_unknown(text)  # type: ignore[misc]
                # callers that know where the text came from (a prompt, a file) re-word this with their own fix
                raise DataError(
                    f"CharTokenizer.encode: character {c!r} (U+{ord(c):04X}) at position {i} is not in the "
                    f"{self.vocab_size}-symbol vocabulary; remove it from the text, or use a model whose "
                    "vocabulary covers it (tokenizer=byte encodes any text)"
                )
            ids = np.where(known, ids, self.unk_id)
        return ids.astype(np.int64)

    def decode(self, ids) -> str:
        ids = self._check_ids(ids)
        return self._codes[ids].astype(np.uint32).tobytes().decode("utf-32-le", errors="surrogatepass")

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "lines": self.lines, "chars": "".join(self.chars), "unk": self.unk}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CharTokenizer:
        return cls(list(d["chars"]), lines=d.get("lines", False), unk=d.get("unk"))
