"""The word tokenizer: words and punctuation as tokens, newlines kept, <unk> below min_count, spacing on decode."""

import json

import numpy as np
import pytest

from lmladder.data import DataError, WordTokenizer, tokenizer_from_dict
from lmladder.data.tokenizers.word import split_words

TEXT = "First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n"


def test_split_keeps_words_punctuation_and_newlines():
    assert split_words("Hark! Who's there?\n  o'er the sea") == [
        "Hark", "!", "Who's", "there", "?", "\n", "o'er", "the", "sea"
    ]  # fmt: skip


def test_vocab_most_frequent_first_then_first_use():
    tok = WordTokenizer.build(TEXT)
    assert tok.itos[0] == "<unk>" and tok.boundary_id is None
    assert tok.itos[1:6] == ["\n", ":", ",", "speak", "."]  # 5 newlines, then the twice-seen words by first use
    assert tok.vocab_size == 1 + len(set(split_words(TEXT)))


def test_round_trip_up_to_spacing():
    tok = WordTokenizer.build(TEXT)
    assert tok.decode(tok.encode(TEXT)) == TEXT
    assert tok.decode(tok.encode("hear   me ,speak")) == "hear me, speak"  # spacing is normalised


def test_min_count_sends_rare_words_to_unk():
    tok = WordTokenizer.build(TEXT, min_count=2)
    assert set(tok.words) == {"\n", ":", "speak", "."} | {","}
    ids = tok.encode("Citizen: speak")
    np.testing.assert_array_equal(ids, [tok.unk_id, tok.stoi[":"], tok.stoi["speak"]])
    assert tok.count_unknown("Citizen: speak, friend") == 2
    assert tok.unknown_words("Citizen: friend Citizen") == ["Citizen", "friend"]
    assert tok.decode(ids) == "<unk>: speak"


def test_lines_corpus_boundary_is_id_zero():
    tok = WordTokenizer.build("\nmary jane\nzoe\nmary\n", lines=True)
    assert tok.itos[:3] == ["\n", "<unk>", "mary"] and tok.boundary_id == 0
    np.testing.assert_array_equal(tok.encode("\nzoe\n"), [0, tok.stoi["zoe"], 0])


def test_dict_round_trip_is_json():
    tok = WordTokenizer.build(TEXT, min_count=2)
    back = tokenizer_from_dict(json.loads(json.dumps(tok.to_dict())))
    assert isinstance(back, WordTokenizer) and back.itos == tok.itos and back.min_count == 2


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"min_count": 0}, r"data.word.min_count=0 must be a whole number >= 1"),
        ({"min_count": 2.5}, r"data.word.min_count=2.5 must be a whole number >= 1"),
        ({"min_count": 99}, r"data.word.min_count=99 keeps no word \(the most frequent is seen 5 times\); lower it"),
    ],
)
def test_bad_min_count(kwargs, match):
    with pytest.raises(DataError, match=match):
        WordTokenizer.build(TEXT, **kwargs)


def test_no_words_and_tampered_dict():
    with pytest.raises(DataError, match="the train split has no words"):
        WordTokenizer.build("   \t ")
    with pytest.raises(DataError, match="distinct tokens"):
        tokenizer_from_dict({"type": "word", "words": ["a", "a"]})
    with pytest.raises(DataError, match="distinct tokens"):
        tokenizer_from_dict({"type": "word", "words": ["two words"]})
