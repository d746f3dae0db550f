"""The corpus settings (`data` in conf/): which text, how it is tokenized and split. Each field is the parameter
of the same name in this package (load_source's path, url, sha256; prepare_corpus's kind, tokenizer, fractions)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .bpe import PATTERNS
from .errors import DataError
from .prepared import KINDS
from .registry import TOKENIZERS
from .sources import SOURCES
from .splits import check_fractions

MAX_VOCAB = 65536  # token ids are stored as uint16


@dataclass
class DataConfig:
    name: str = "names"  # a label for reports and the cache folder
    source: str = "babynames"  # babynames | file | url
    year: int = 2017  # babynames only
    path: str | None = None  # file source, or a local copy of a url source
    url: str | None = None
    sha256: str | None = None
    kind: str = "lines"  # lines (one document per line) | stream (running text)
    tokenizer: str = "char"  # char | byte | word | bpe
    vocab_size: int = 1024  # bpe: 256 bytes + merges + 1 special token (<|endoftext|>)
    bpe_pattern: str = "gpt4"  # bpe pre-split regex: gpt4 | gpt2 | none
    min_count: int = 1  # word: train words seen fewer times become <unk>
    fractions: list[float] = field(default_factory=lambda: [0.8, 0.1, 0.1])
    split_seed: int = 42
    raw_dir: str = "data/raw"  # where url downloads are kept

    def check(self) -> None:
        """Every rule that needs no file: so a bad setting fails before any corpus is read or downloaded."""
        for name, options, choose in (
            ("source", SOURCES, "babynames, file or url"),
            ("kind", KINDS, "lines (one document per line) or stream (running text)"),
            ("tokenizer", TOKENIZERS, "char, byte, word or bpe"),
            ("bpe_pattern", PATTERNS, "gpt4, gpt2 or none"),
        ):
            if getattr(self, name) not in options:
                raise DataError(f"{name}={getattr(self, name)!r}; choose {choose}")
        for name in ("vocab_size", "min_count"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int):
                raise DataError(f"data.{name}={v!r} must be a whole number")
        if self.vocab_size < 257:
            raise DataError(
                f"data.vocab_size={self.vocab_size} is below bpe's 256 byte tokens + 1 special token; "
                "choose data.vocab_size >= 257"
            )
        if self.vocab_size > MAX_VOCAB:
            raise DataError(
                f"data.vocab_size={self.vocab_size} exceeds {MAX_VOCAB} (token ids are stored as uint16); "
                f"choose data.vocab_size <= {MAX_VOCAB}"
            )
        if self.min_count < 1:
            raise DataError(f"data.min_count={self.min_count} must be a whole number >= 1 (1 keeps every train word)")
        check_fractions(self.fractions)
        if self.sha256 is not None and not re.fullmatch(r"[0-9a-fA-F]{64}", str(self.sha256).strip()):
            raise DataError(f"sha256={str(self.sha256)[:80]!r} is not 64 hex digits; get it with `sha256sum FILE`")
