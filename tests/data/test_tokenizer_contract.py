"""Every registered tokenizer keeps the one contract, and a new tokenizer is one class: defining it is enough for
prepare, the cache key, vocab.json and load_prepared to handle it."""

import inspect
import json
from dataclasses import fields

import numpy as np
import pytest

from lmladder.data import (
    TOKENIZERS,
    DataConfig,
    DataError,
    Tokenizer,
    data_signature,
    load_prepared,
    make_tokenizer,
    prepare,
    tokenizer_from_dict,
)

TEXT = "the cat sat.\nthe dog sat.\na cat and a dog.\n" * 4
SETTINGS = {"vocab_size": 270, "pattern": "gpt4", "min_count": 1}  # each tokenizer takes its own


@pytest.mark.parametrize("lines", [False, True])
@pytest.mark.parametrize("name", TOKENIZERS)
def test_every_tokenizer_keeps_the_contract(name, lines):
    cls = TOKENIZERS[name]
    assert cls.name == name
    if cls.settings is not None:  # its own settings are the block data.<name>; build() takes their fields by name
        assert isinstance(getattr(DataConfig(), name), cls.settings)
        build, defaults = inspect.signature(cls.build).parameters, cls.settings()
        assert cls.options == tuple(f.name for f in fields(cls.settings))
        assert all(build[o].default == getattr(defaults, o) for o in cls.options)  # with the same defaults
    else:
        assert name not in {f.name for f in fields(DataConfig)} and cls.options == ()
    train = TEXT.strip("\n") if lines else TEXT
    tok = make_tokenizer(name, kind="lines" if lines else "stream", train=train, **SETTINGS)
    assert type(tok) is cls and (tok.boundary_id is not None) == lines and tok.describe().startswith(name)
    ids = tok.encode(train)
    assert ids.dtype == np.int64 and 0 <= ids.min() and ids.max() < tok.vocab_size
    assert tok.decode(ids) == train and tok.count_unknown(train) == 0
    back = tokenizer_from_dict(json.loads(json.dumps(tok.to_dict())))
    assert type(back) is cls and back.to_dict() == tok.to_dict() and back.encode(train).tolist() == ids.tolist()


def test_settings_are_checked_by_name():
    unknown = r"tokenizer setting 'vocab_szie' is unknown; the settings are min_count, pattern, vocab_size"
    with pytest.raises(DataError, match=unknown):
        make_tokenizer("bpe", kind="stream", train=TEXT, vocab_szie=300)
    with pytest.raises(DataError, match="tokenizer='wordpiece' is unknown; choose char, byte, word, bpe"):
        make_tokenizer("wordpiece", kind="stream", train=TEXT)


@pytest.fixture
def toy():
    """A tokenizer defined the way a new one is (its class, nothing else); unregistered again afterwards."""

    class Reversed(Tokenizer):
        """The train split's characters, last code point first; no boundary, no unknown token."""

        name = "test-reversed"

        def __init__(self, chars):
            self.itos, self.vocab_size, self.boundary_id = list(chars), len(chars), None

        @classmethod
        def build(cls, train, *, lines=False, others=()):
            return cls(sorted(set(train), reverse=True))

        def encode(self, text):
            return np.array([self.itos.index(c) for c in text], dtype=np.int64)

        def decode(self, ids):
            return "".join(self.itos[i] for i in self.checked_ids(ids).tolist())

        def to_dict(self):
            return {"type": self.name, "chars": "".join(self.itos)}

        @classmethod
        def from_dict(cls, d):
            return cls(d["chars"])

    yield Reversed
    assert TOKENIZERS.pop(Reversed.name) is Reversed


def test_a_new_tokenizer_is_one_class(tmp_path, toy):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(TEXT)
    data = DataConfig(source="file", path=str(corpus), kind="stream", tokenizer="test-reversed", fractions=[0.5, 0.5])
    stats = prepare(data, tmp_path / "p")
    p = load_prepared(tmp_path / "p")
    assert isinstance(p.tokenizer, toy) and stats["tokenizer_label"] == "test-reversed"
    assert p.tokenizer.decode(p.splits["train"]) + p.tokenizer.decode(p.splits["val"]) == TEXT
    assert "bpe" not in data_signature(data) and "word" not in data_signature(data)  # others' settings
