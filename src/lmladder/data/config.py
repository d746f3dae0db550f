"""The corpus settings (`data` in conf/): which text, how it is tokenized and split. Each flat field is the parameter
of the same name in this package (load_source's path, url, sha256; prepare_corpus's kind, tokenizer, fractions); a
source's or a tokenizer's own settings are a block named after it (`data.babynames`, `data.bpe`, `data.word`: the
settings class beside its code), read only when it is the one chosen."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ..rules import block, check_fields, check_groups, check_used, choice, integer, nest
from .errors import DataError
from .prepared import KINDS
from .sources import SOURCES, BabynamesSettings
from .splits import check_fractions
from .tokenizers import TOKENIZERS
from .tokenizers.bpe import BPESettings
from .tokenizers.word import WordSettings

_GROUPED = "a source's and a tokenizer's own settings sit in a block named after it"
# DataConfig's flat fields before its blocks: old -> (new, why). config.py refuses them in a config, naming the new
# key (config.RENAMED); from_stored maps them in the data settings a checkpoint or a prepared folder recorded.
RENAMED = {
    "year": ("babynames.year", _GROUPED),
    "vocab_size": ("bpe.vocab_size", _GROUPED),
    "bpe_pattern": ("bpe.pattern", _GROUPED),
    "min_count": ("word.min_count", _GROUPED),
}


@dataclass
class DataConfig:
    name: str = "names"  # a label for reports and the cache folder
    source: str = choice("babynames", SOURCES)
    babynames: BabynamesSettings = block(BabynamesSettings)
    # The text's own address, whichever source reads it: a preset names its corpus by url and sha256, and a run may
    # read a local copy (path) of it, with source=url or source=file; so these three stay beside `source`.
    path: str | None = None  # the file (source=file), or a local copy of a url source's text (no download then)
    url: str | None = None
    sha256: str | None = None  # checked for every source when set; required to download
    kind: str = choice("lines", KINDS, note="lines: one document per line; stream: running text")
    tokenizer: str = choice("char", TOKENIZERS)
    word: WordSettings = block(WordSettings)
    bpe: BPESettings = block(BPESettings)
    fractions: list[float] = field(default_factory=lambda: [0.8, 0.1, 0.1])
    split_seed: int = integer(42, low=0)
    raw_dir: str = "data/raw"  # where url downloads are kept

    # choice -> {block: the values of the choice that read it}: a block the choice in force does not read stays at
    # its defaults (rules.check_used)
    used_by: ClassVar[dict[str, dict[str, tuple[str, ...]]]] = {
        "source": {"babynames": ("babynames",)},
        "tokenizer": {name: (name,) for name, cls in TOKENIZERS.items() if cls.settings},
    }

    def __post_init__(self) -> None:
        nest(self)

    def check(self) -> None:
        """Every rule that needs no file: so a bad setting fails before any corpus is read or downloaded."""
        check_fields(self, DataError)
        check_groups(self, DataError)
        for choice_field, used_by in self.used_by.items():
            check_used(self, choice_field, used_by, DataError)
        check_fractions(self.fractions)
        if self.sha256 is not None and not re.fullmatch(r"[0-9a-fA-F]{64}", str(self.sha256).strip()):
            raise DataError(f"sha256={str(self.sha256)[:80]!r} is not 64 hex digits; get it with `sha256sum FILE`")


def from_stored(stored: dict[str, Any]) -> dict[str, Any]:
    """DataConfig's fields from the data settings a checkpoint (or a prepared folder's stats.json) recorded. One
    written before the blocks holds RENAMED's flat fields: each moves into its block, so `DataConfig(**...)` is the
    same corpus and two records of one corpus compare equal whichever lmladder wrote them."""
    out = {k: v for k, v in stored.items() if k not in RENAMED}
    for old, (new, _) in RENAMED.items():
        if old in stored:
            group, key = new.split(".")
            out[group] = {**(out.get(group) or {}), key: stored[old]}
    return out
