"""Every tokenizer by name: build one from a train split (`make_tokenizer`), rebuild one from its dict form
(vocab.json, a checkpoint's metadata) and label it for reports."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .bpe import BPETokenizer
from .errors import DataError
from .tokenizers import ByteTokenizer, CharTokenizer, Tokenizer
from .words import WordTokenizer

TOKENIZERS: dict[str, type[Tokenizer]] = {
    "char": CharTokenizer,
    "byte": ByteTokenizer,
    "word": WordTokenizer,
    "bpe": BPETokenizer,
}


def make_tokenizer(
    name: str,
    *,
    kind: str,
    train,
    others: Sequence = (),
    vocab_size: int = 1024,
    bpe_pattern: str = "gpt4",
    min_count: int = 1,
) -> Tokenizer:
    """The tokenizer `name`, its vocabulary learned from the training split only (`others`, val/test, only decide
    whether the char vocabulary needs an unknown token)."""
    lines = kind == "lines"
    if name == "byte":
        return ByteTokenizer(lines=lines)
    if name not in TOKENIZERS:
        raise DataError(f"tokenizer={name!r} is unknown; choose {', '.join(TOKENIZERS)}")
    if isinstance(train, bytes):
        raise DataError(f"tokenizer={name} needs text, got bytes; decode the source with Source.text()")
    if name == "char":
        return CharTokenizer.build(train, lines=lines, others=others)
    if name == "word":
        return WordTokenizer.build(train, lines=lines, min_count=min_count)
    return BPETokenizer.train(train, vocab_size, pattern=bpe_pattern, lines=lines)


def tokenizer_from_dict(d: dict[str, Any]) -> Tokenizer:
    """Rebuild a tokenizer from its to_dict() form (extra keys, e.g. vocab.json's "kind", are ignored)."""
    kind = d.get("type") if isinstance(d, dict) else None
    if kind not in TOKENIZERS:
        raise DataError(f"unknown tokenizer type {kind!r} in vocab dict; expected one of {sorted(TOKENIZERS)}")
    try:
        return TOKENIZERS[kind].from_dict(d)  # type: ignore[attr-defined]
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        if isinstance(e, DataError):
            raise
        raise DataError(f"malformed {kind} tokenizer dict ({e!r}); re-run prepare to rewrite vocab.json") from None


def describe(tok: Tokenizer) -> str:
    """A short label for reports: char, byte, bpe-1024/gpt4, word/min2."""
    d = tok.to_dict()
    if d["type"] == "bpe":
        return f"bpe-{tok.vocab_size}/{d['pattern']}"
    if d["type"] == "word":
        return f"word/min{d['min_count']}"
    return d["type"]
