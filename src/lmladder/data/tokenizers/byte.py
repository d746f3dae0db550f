"""The byte tokenizer: UTF-8 bytes, vocab 256. It encodes any text, and any file, without an unknown token."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .base import Tokenizer


class ByteTokenizer(Tokenizer):
    """UTF-8 bytes, vocab 256: encodes any text, never needs an unknown token."""

    name = "byte"
    reads_bytes = True
    decode_errors = "replace"  # bytes that are no UTF-8 decode to U+FFFD
    vocab_size = 256

    def __init__(self, lines: bool = False):
        self.lines = bool(lines)
        self.boundary_id = 10 if self.lines else None  # b"\n" separates the documents of a lines corpus

    @classmethod
    def build(cls, train, *, lines: bool = False, others: Sequence = ()) -> ByteTokenizer:
        return cls(lines=lines)  # nothing to learn

    def encode(self, text: str | bytes) -> np.ndarray:
        data = text if isinstance(text, bytes | bytearray) else text.encode("utf-8")
        return np.frombuffer(data, dtype=np.uint8).astype(np.int64)

    def decode(self, ids) -> str:
        return self.checked_ids(ids).astype(np.uint8).tobytes().decode("utf-8", errors=self.decode_errors)

    def token_bytes(self, id: int) -> bytes:
        return bytes([id])

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.name, "lines": self.lines}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ByteTokenizer:
        return cls(lines=d.get("lines", False))
