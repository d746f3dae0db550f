"""Every tokenizer by name (lmladder.data.tokenizers registers them): build one from a train split
(`make_tokenizer`) and rebuild one from its dict form (vocab.json, a checkpoint's metadata)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .errors import DataError
from .tokenizers import TOKENIZERS, Tokenizer


def tokenizer_class(name: str) -> type[Tokenizer]:
    if name not in TOKENIZERS:
        raise DataError(f"tokenizer={name!r} is unknown; choose {', '.join(TOKENIZERS)}")
    return TOKENIZERS[name]


def make_tokenizer(name: str, *, kind: str, train, others: Sequence = (), **settings) -> Tokenizer:
    """The tokenizer `name`, its vocabulary learned from the training split only (`others`, val/test, only decide
    whether a vocabulary needs an unknown token). Of the data `settings` (vocab_size=, min_count=, ...) it takes
    those in its `options`; the others' are ignored, so one set of settings serves every tokenizer."""
    cls = tokenizer_class(name)
    known = {o for t in TOKENIZERS.values() for o in t.options}
    if unknown := sorted(set(settings) - known):
        raise DataError(f"tokenizer setting {unknown[0]!r} is unknown; the settings are {', '.join(sorted(known))}")
    if isinstance(train, bytes) and not cls.reads_bytes:
        raise DataError(f"tokenizer={name} needs text, got bytes; decode the source with Source.text()")
    options = {k: v for k, v in settings.items() if k in cls.options}
    return cls.build(train, lines=kind == "lines", others=others, **options)


def tokenizer_from_dict(d: dict[str, Any]) -> Tokenizer:
    """Rebuild a tokenizer from its to_dict() form (extra keys, e.g. vocab.json's "kind", are ignored)."""
    name = d.get("type") if isinstance(d, dict) else None
    if name not in TOKENIZERS:
        raise DataError(f"unknown tokenizer type {name!r} in vocab dict; expected one of {sorted(TOKENIZERS)}")
    try:
        return TOKENIZERS[name].from_dict(d)
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        if isinstance(e, DataError):
            raise
        raise DataError(f"malformed {name} tokenizer dict ({e!r}); re-run prepare to rewrite vocab.json") from None
