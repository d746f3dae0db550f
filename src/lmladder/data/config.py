"""The corpus settings (`data` in conf/): which text, how it is tokenized and split. Each field is the parameter
of the same name in this package (load_source's path, url, sha256; prepare_corpus's kind, tokenizer, fractions)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..rules import check_fields, choice, integer
from .errors import DataError
from .prepared import KINDS, MAX_VOCAB
from .sources import SOURCES
from .splits import check_fractions
from .tokenizers import TOKENIZERS
from .tokenizers.bpe import PATTERNS


@dataclass
class DataConfig:
    name: str = "names"  # a label for reports and the cache folder
    source: str = choice("babynames", SOURCES)
    year: int = integer(2017, low=1880)  # babynames only
    path: str | None = None  # file source, or a local copy of a url source
    url: str | None = None
    sha256: str | None = None
    kind: str = choice("lines", KINDS, note="lines: one document per line; stream: running text")
    tokenizer: str = choice("char", TOKENIZERS)
    # bpe: 256 bytes + merges + 1 special token (<|endoftext|>); ids are stored as uint16
    vocab_size: int = integer(1024, low=257, high=MAX_VOCAB, note="bpe's 256 byte tokens + 1 special token at least")
    bpe_pattern: str = choice("gpt4", PATTERNS, note="the pre-split regex; none merges across everything")
    min_count: int = integer(1, low=1, note="word: train words seen fewer times become <unk>; 1 keeps every word")
    fractions: list[float] = field(default_factory=lambda: [0.8, 0.1, 0.1])
    split_seed: int = integer(42, low=0)
    raw_dir: str = "data/raw"  # where url downloads are kept

    def check(self) -> None:
        """Every rule that needs no file: so a bad setting fails before any corpus is read or downloaded."""
        check_fields(self, DataError)
        check_fractions(self.fractions)
        if self.sha256 is not None and not re.fullmatch(r"[0-9a-fA-F]{64}", str(self.sha256).strip()):
            raise DataError(f"sha256={str(self.sha256)[:80]!r} is not 64 hex digits; get it with `sha256sum FILE`")
