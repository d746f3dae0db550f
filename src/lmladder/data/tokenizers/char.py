"""The character tokenizer: one id per character of the train split, plus an unknown token if val/test need one.

A lines corpus puts its boundary "\\n" at id 0: makemore's names vocabulary falls out exactly (boundary 0, '.'
there, then a..z = 1..26).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from ..errors import DataError
from .base import Tokenizer

DEFAULT_UNK = "\ufffd"  # the Unicode replacement character stands in for characters the training split never had


class CharTokenizer(Tokenizer):
    """One id per character: [boundary "\\n" if lines] + chars (in the given order) + [unk if declared]."""

    name = "char"

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
        self._codes = codes
        # code point -> id (-1: none); the last entry, -1, stands for every code point above the vocabulary's
        self._table = np.full(int(codes.max()) + 2 if codes.size else 1, -1, dtype=np.int32)
        self._table[codes] = np.arange(codes.size, dtype=np.int32)

    @classmethod
    def build(
        cls, train: str, *, lines: bool = False, others: Iterable[str] = (), unk: str = DEFAULT_UNK
    ) -> CharTokenizer:
        """Vocabulary from the training split only; an unk token is added only if `others` (val/test) need one."""
        chars = set(train) - ({"\n"} if lines else set())
        unseen = set().union(*(set(o) for o in others)) - chars - ({"\n"} if lines else set())
        return cls(sorted(chars), lines=lines, unk=unk if unseen else None)

    def _lookup(self, text: str | bytes) -> tuple[np.ndarray, np.ndarray]:
        """(ids, known mask) for every character of text (id -1 where unknown), a table lookup per code point; bytes
        are valid UTF-8 (a corpus prepare checked), read without decoding them."""
        if isinstance(text, bytes):
            from ..bytes_jit import char_ids  # numba, imported only where a corpus is prepared

            ids = np.empty(len(text), dtype=np.int64)
            ids = ids[: char_ids(np.frombuffer(text, dtype=np.uint8), self._table, ids)]
        else:
            codes = np.frombuffer(text.encode("utf-32-le", errors="surrogatepass"), dtype=np.uint32)
            ids = self._table.take(codes, mode="clip")  # a code point past the table reads its last entry, -1
        return ids, ids >= 0

    def _unknown(self, ids: np.ndarray, known: np.ndarray) -> int:
        if self.unk_id is not None and self.unk not in self.chars:
            known &= ids != self.unk_id  # a literal unk character was not in train either
        return ids.size - int(np.count_nonzero(known))

    def count_unknown(self, text: str) -> int:
        """How many characters of text are outside the vocabulary proper (they encode to unk, if declared)."""
        return self._unknown(*self._lookup(text))

    def first_unknown(self, text: str) -> tuple[int, str] | None:
        """(position, character) of the first character with no id (not even unk), or None if all encode."""
        _, known = self._lookup(text)
        if self.unk_id is not None or known.all():
            return None
        i = int(np.argmin(known))
        return i, text[i]

    def encode(self, text: str) -> np.ndarray:
        return self.encode_counted(text)[0]

    def encode_counted(self, text: str | bytes) -> tuple[np.ndarray, int]:
        """encode and count_unknown in one lookup; text may be valid UTF-8 bytes (prepare's blocks: no decoding)."""
        ids, known = self._lookup(text)
        if known.all():
            return ids.astype(np.int64, copy=False), 0
        if self.unk_id is None:
            i, c = self.first_unknown(text.decode("utf-8") if isinstance(text, bytes) else text)  # type: ignore[misc]
            # callers that know where the text came from (a prompt, a file) re-word this with their own fix
            raise DataError(
                f"CharTokenizer.encode: character {c!r} (U+{ord(c):04X}) at position {i} is not in the "
                f"{self.vocab_size}-symbol vocabulary; remove it from the text, or use a model whose "
                "vocabulary covers it (tokenizer=byte encodes any text)"
            )
        out = np.where(known, ids, self.unk_id).astype(np.int64)
        return out, self._unknown(ids, known)

    def decode(self, ids) -> str:
        ids = self.checked_ids(ids)
        return self._codes[ids].astype(np.uint32).tobytes().decode("utf-32-le", errors="surrogatepass")

    def decode_documents(self, ids: np.ndarray, cuts: np.ndarray) -> list[str]:
        text = self.decode(ids)  # one character per id: a document's text is its ids' span, decoded at once
        return [text[a + 1 : b] for a, b in zip(cuts[:-1], cuts[1:], strict=True)]

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.name, "lines": self.lines, "chars": "".join(self.chars), "unk": self.unk}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CharTokenizer:
        return cls(list(d["chars"]), lines=d.get("lines", False), unk=d.get("unk"))
