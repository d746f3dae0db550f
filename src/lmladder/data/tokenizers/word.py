"""Word-level tokenizer (TinyLM-style): words and punctuation marks are tokens, newlines are kept, spaces are not.

    "Hark! Who's there?\\n" -> ["Hark", "!", "Who's", "there", "?", "\\n"]

The vocabulary is the train split's words seen at least `min_count` times, most frequent first, plus "<unk>" for
the rest; a lines corpus puts its boundary "\\n" at id 0, as the char tokenizer does. Decoding rejoins the words
with single spaces, none before closing punctuation or around newlines, so it is faithful up to spacing.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...rules import check_fields, integer
from ..errors import DataError
from .base import Tokenizer

UNK = "<unk>"
# a word with inner apostrophes (o'er, Who's), one other non-space character, or a newline
WORD_RE = re.compile(r"\w+(?:['’]\w+)*|[^\w\s]|\n")
NO_SPACE_BEFORE = set(".,;:!?)]}'\"’”…\n")
NO_SPACE_AFTER = set("([{‘“\n")


def split_words(text: str) -> list[str]:
    return WORD_RE.findall(text)


@dataclass
class WordSettings:
    """word's own data settings (`data.word`)."""

    min_count: int = integer(1, low=1, note="train words seen fewer times become <unk>; 1 keeps every word")

    def check(self) -> None:
        check_fields(self, DataError)


class WordTokenizer(Tokenizer):
    """[boundary "\\n" if lines] + "<unk>" + words (most frequent first); unknown words encode to "<unk>"."""

    name = "word"
    settings = WordSettings

    def __init__(self, words: list[str], *, lines: bool = False, min_count: int = 1):
        words = list(words)
        if not all(isinstance(w, str) and w and WORD_RE.fullmatch(w) for w in words) or len(set(words)) != len(words):
            raise DataError("WordTokenizer: words must be distinct tokens of WORD_RE; re-run prepare to rebuild it")
        if UNK in words or (lines and "\n" in words):
            raise DataError("WordTokenizer: '<unk>' and a lines corpus's '\\n' are added by the tokenizer itself")
        self.lines, self.words, self.min_count = bool(lines), words, int(min_count)
        self.itos = (["\n"] if self.lines else []) + [UNK] + words
        self.stoi = {w: i for i, w in enumerate(self.itos)}
        self.vocab_size = len(self.itos)
        self.boundary_id = 0 if self.lines else None
        self.unk_id = self.stoi[UNK]

    @classmethod
    def build(cls, train: str, *, lines: bool = False, others: Sequence = (), min_count: int = 1) -> WordTokenizer:
        """Vocabulary from the training split only: words seen >= min_count times, by count then first use."""
        return cls.from_counts(Counter(split_words(train)), lines=lines, min_count=min_count)

    @classmethod
    def from_counts(cls, counts: Counter, *, lines: bool = False, min_count: int = 1) -> WordTokenizer:
        """build() from the train split's word counts, in order of first use (counted a piece at a time)."""
        if isinstance(min_count, bool) or not isinstance(min_count, int) or min_count < 1:
            raise DataError(f"data.word.min_count={min_count!r} must be a whole number >= 1 (1 keeps every train word)")
        counts = Counter(counts)
        if lines:
            counts.pop("\n", None)
        if set(counts) <= {"\n"}:  # nothing but blank lines
            raise DataError("the train split has no words; point data.path at a corpus with text in it")
        kept = [w for w, c in sorted(counts.items(), key=lambda wc: -wc[1]) if c >= min_count]  # stable: first use
        if not kept:
            top = max(counts.values())
            raise DataError(
                f"data.word.min_count={min_count} keeps no word (the most frequent is seen {top} times); lower it"
            )
        return cls(kept, lines=lines, min_count=min_count)

    def encode(self, text: str) -> np.ndarray:
        return self.encode_counted(text)[0]

    def encode_counted(self, text: str) -> tuple[np.ndarray, int]:
        stoi = self.stoi
        ids = np.array([stoi.get(w, -1) for w in split_words(text)], dtype=np.int64)
        unknown = ids < 0
        ids[unknown] = self.unk_id
        return ids, int(np.count_nonzero(unknown))

    def count_unknown(self, text: str) -> int:
        """How many words of text are outside the vocabulary (they encode to <unk>)."""
        return sum(w not in self.stoi for w in split_words(text))

    def unknown_words(self, text: str, limit: int = 5) -> list[str]:
        """The first `limit` distinct out-of-vocabulary words of text, for warnings."""
        out: list[str] = []
        for w in split_words(text):
            if w not in self.stoi and w not in out:
                out.append(w)
                if len(out) == limit:
                    break
        return out

    def decode(self, ids) -> str:
        parts: list[str] = []
        prev = "\n"
        for i in self.checked_ids(ids).tolist():
            w = self.itos[i]
            if parts and w not in NO_SPACE_BEFORE and prev not in NO_SPACE_AFTER:
                parts.append(" ")
            parts.append(w)
            prev = w
        return "".join(parts)

    def describe(self) -> str:
        return f"word/min{self.min_count}"

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.name, "lines": self.lines, "min_count": self.min_count, "words": self.words}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> WordTokenizer:
        return cls(d["words"], lines=d.get("lines", False), min_count=d.get("min_count", 1))
