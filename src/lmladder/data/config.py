"""The corpus settings (`data` in conf/): which text, how it is tokenized and split. Each field is the parameter
of the same name in this package (load_source's path, url, sha256; prepare_corpus's kind, tokenizer, fractions)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .errors import DataError
from .prepared import KINDS
from .sources import SOURCES
from .splits import check_fractions
from .tokenizers import TOKENIZERS


@dataclass
class DataConfig:
    name: str = "names"  # a label for reports and the cache folder
    source: str = "babynames"  # babynames | file | url
    year: int = 2017  # babynames only
    path: str | None = None  # file source, or a local copy of a url source
    url: str | None = None
    sha256: str | None = None
    kind: str = "lines"  # lines (one document per line) | stream (running text)
    tokenizer: str = "char"  # char | byte
    fractions: list[float] = field(default_factory=lambda: [0.8, 0.1, 0.1])
    split_seed: int = 42
    raw_dir: str = "data/raw"  # where url downloads are kept

    def check(self) -> None:
        """Every rule that needs no file: so a bad setting fails before any corpus is read or downloaded."""
        for name, options, choose in (
            ("source", SOURCES, "babynames, file or url"),
            ("kind", KINDS, "lines (one document per line) or stream (running text)"),
            ("tokenizer", TOKENIZERS, "char or byte"),
        ):
            if getattr(self, name) not in options:
                raise DataError(f"{name}={getattr(self, name)!r}; choose {choose}")
        check_fractions(self.fractions)
        if self.sha256 is not None and not re.fullmatch(r"[0-9a-fA-F]{64}", str(self.sha256).strip()):
            raise DataError(f"sha256={str(self.sha256)[:80]!r} is not 64 hex digits; get it with `sha256sum FILE`")
