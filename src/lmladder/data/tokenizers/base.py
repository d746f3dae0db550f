"""The tokenizer contract: build from a train split, text <-> int64 id arrays, a JSON-able dict and back.

A tokenizer is one class, named by `name` (the `data.tokenizer` setting and the "type" of its dict); defining it
registers it in TOKENIZERS, so preparing data, vocab.json and checkpoints handle it with no other change. A
byte-level tokenizer (its tokens are byte strings) also has token_bytes(id) and decode_errors, the codec error
handler of its decode, so a sample can be shown token by token.

A lines corpus (one document per line, e.g. names) has a boundary token that both starts and ends every
document; it decodes to "\\n", so `encode("\\n" + "\\n".join(lines) + "\\n")` is the flat [B, w1..., B, w2..., B]
layout.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields
from typing import Any, ClassVar

import numpy as np

from ..errors import DataError

TOKENIZERS: dict[str, type[Tokenizer]] = {}  # name -> class, in the order they are defined


class Tokenizer:
    name: ClassVar[str] = ""
    settings: ClassVar[type | None] = None  # its own settings, a dataclass: the block data.<name> of DataConfig
    options: ClassVar[tuple[str, ...]] = ()  # their fields, the keyword arguments build() takes (from `settings`)
    reads_bytes: ClassVar[bool] = False  # the corpus reaches build/encode as raw bytes (any file, UTF-8 or not)
    unk: str | None = None  # the character that characters outside the vocabulary encode to, if there is one
    vocab_size: int
    boundary_id: int | None  # separator token of a lines corpus, None for a stream

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.name in TOKENIZERS:
            taken = TOKENIZERS[cls.name].__name__
            raise TypeError(f"{cls.__name__}: the tokenizer name {cls.name!r} is {taken}'s already; choose another")
        if cls.name:
            TOKENIZERS[cls.name] = cls
        cls.options = tuple(f.name for f in fields(cls.settings)) if cls.settings else ()

    @classmethod
    def build(cls, train, *, lines: bool = False, others: Sequence = (), **options) -> Tokenizer:
        """The vocabulary learned from the train split only; `others` (val/test) may decide just whether an
        unknown token is needed. `options` are the fields of its `settings`."""
        raise NotImplementedError  # pragma: no cover - abstract

    def encode(self, text: str) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def decode(self, ids) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def decode_documents(self, ids: np.ndarray, cuts: np.ndarray) -> list[str]:
        """The documents of a lines corpus's ids, those between consecutive boundary positions `cuts`, decoded."""
        return [self.decode(ids[a + 1 : b]) for a, b in zip(cuts[:-1], cuts[1:], strict=True)]

    def to_dict(self) -> dict[str, Any]:
        """The JSON-able form written to vocab.json and checkpoints; "type" is the name."""
        raise NotImplementedError  # pragma: no cover - abstract

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Tokenizer:  # pragma: no cover - abstract
        raise NotImplementedError

    def describe(self) -> str:
        """A short label for reports: char, byte, bpe-1024/gpt4, word/min2."""
        return self.name

    def count_unknown(self, text) -> int:
        """How many tokens of text fall outside the vocabulary (none, for a vocabulary that covers any text)."""
        return 0

    def encode_counted(self, text) -> tuple[np.ndarray, int]:
        """(encode(text), count_unknown(text)); tokenizers that find both in one pass override it (prepare does)."""
        return self.encode(text), self.count_unknown(text)

    def checked_ids(self, ids) -> np.ndarray:
        """ids as a flat integer array, every one inside the vocabulary: what decode() starts with."""
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
