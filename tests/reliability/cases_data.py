"""Bad-input cases of the data settings' blocks (issue 71, its data half: data.babynames, data.bpe, data.word): a
block set for a source or tokenizer not chosen, a block given a value, and the flat keys of before. The same contract
as cases.py, appended to CASES, each at the end of its group ("config") of docs/errors.md."""

from __future__ import annotations

from .case_kit import C, case

GROUPED = r"\(a source's and a tokenizer's own settings sit in a block named after it\)"
NOT_READ = r"it would change nothing"

DATA_CASES = [
    case("config-data-bpe-under-char", "config", "prepare", ["data.bpe.vocab_size=512"],
         rf"data.bpe.vocab_size=512 is read with data.tokenizer=bpe only, and data.tokenizer='char': {NOT_READ}",
         r"set data.tokenizer=bpe, or leave it at its default \(1024\)"),
    case("config-data-word-under-bpe", "config", "prepare", ["data.tokenizer=bpe", "data.word.min_count=2"],
         rf"data.word.min_count=2 is read with data.tokenizer=word only, and data.tokenizer='bpe': {NOT_READ}",
         r"set data.tokenizer=word, or leave it at its default \(1\)"),
    case("config-data-babynames-under-file", "config", "check",
         ["data.source=file", f"data.path={C}/names.txt", "data.babynames.year=1990"],
         rf"data.babynames.year=1990 is read with data.source=babynames only, and data.source='file': {NOT_READ}",
         r"set data.source=babynames, or leave it at its default \(2017\)"),
    case("config-data-bpe-not-a-group", "config", "prepare", ["data.tokenizer=bpe", "data.bpe=512"],
         r"config: 'data.bpe' is a group of settings \(vocab_size, pattern\), not a value \(512\)",
         r"set its keys instead, e.g. data.bpe.vocab_size=..."),
    case("config-renamed-data-vocab-size", "config", "prepare", ["data.tokenizer=bpe", "data.vocab_size=512"],
         rf"data.vocab_size is now data.bpe.vocab_size {GROUPED}", r"rename it in your config"),
    case("config-renamed-data-bpe-pattern", "config", "prepare", ["data.tokenizer=bpe", "+data.bpe_pattern=gpt2"],
         rf"data.bpe_pattern is now data.bpe.pattern {GROUPED}", r"rename it in your config"),
    case("config-renamed-data-min-count", "config", "check", ["data.tokenizer=word", "data.min_count=2"],
         rf"data.min_count is now data.word.min_count {GROUPED}", r"rename it in your config"),
    case("config-renamed-data-year", "config", "prepare", ["data.year=1990"],
         rf"data.year is now data.babynames.year {GROUPED}", r"rename it in your config"),
]  # fmt: skip
