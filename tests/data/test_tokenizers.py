"""Tokenizers: makemore's names vocabulary, round trips, unknown characters, the dict form."""

import json

import numpy as np
import pytest

from lmladder.data import ByteTokenizer, CharTokenizer, DataError, tokenizer_from_dict


def test_lines_vocab_matches_makemore():
    tok = CharTokenizer.build("emma\nolivia\nzoe\nbquxjkyfghnprstvwcd", lines=True)
    assert tok.vocab_size == 27 and tok.boundary_id == 0 and tok.unk is None
    assert tok.itos[0] == "\n" and tok.itos[1] == "a" and tok.itos[26] == "z"
    np.testing.assert_array_equal(tok.encode("\nemma\n"), [0, 5, 13, 13, 1, 0])
    assert tok.encode("ab").dtype == np.int64


def test_stream_vocab_is_sorted_chars():
    text = "First Citizen:\nBefore we proceed"
    tok = CharTokenizer.build(text)
    assert tok.boundary_id is None and tok.itos == sorted(set(text))
    assert tok.decode(tok.encode(text)) == text


@pytest.mark.parametrize("text", ["", "hello\nworld", "naïve café 日本 🙂", "\u00a0\t\r\n"])
def test_round_trips(text):
    char = CharTokenizer.build(text + "x")
    assert char.decode(char.encode(text)) == text
    byte = ByteTokenizer()
    assert byte.decode(byte.encode(text)) == text
    np.testing.assert_array_equal(byte.encode(text), list(text.encode("utf-8")))


def test_byte_tokenizer_boundary_and_replacement():
    assert ByteTokenizer().boundary_id is None and ByteTokenizer(lines=True).boundary_id == 10
    assert ByteTokenizer().decode([0x68, 0xFF, 0x69]) == "h\ufffdi"  # invalid UTF-8 decodes with a replacement


def test_unknown_character_without_unk_names_it():
    tok = CharTokenizer.build("abc")
    with pytest.raises(DataError, match=r"'é' \(U\+00E9\) at position 2 is not in the 3-symbol vocabulary.*byte"):
        tok.encode("abé")


def test_unk_declared_only_when_val_needs_it():
    assert CharTokenizer.build("abc", others=["cab"]).unk is None
    tok = CharTokenizer.build("abc", others=["abz", "q"])
    assert tok.unk == "\ufffd" and tok.vocab_size == 4 and tok.unk_id == 3
    np.testing.assert_array_equal(tok.encode("azq"), [0, 3, 3])
    assert tok.count_unknown("azq\ufffd") == 3 and tok.count_unknown("abc") == 0
    lines = CharTokenizer.build("ab\nc", lines=True, others=["\nd\n"])
    assert lines.itos == ["\n", "a", "b", "c", "\ufffd"] and lines.count_unknown("\nd\n") == 1


@pytest.mark.parametrize("unk", [True, False])
def test_char_ids_read_from_utf8_bytes_equal_those_of_the_text(unk):
    """Prepare hands a char tokenizer UTF-8 bytes (bytes_jit.char_ids): one to four bytes a character, code points
    past the vocabulary's largest, unknowns counted, the same error as for text."""
    tok = CharTokenizer.build("aé€😀\n", others=["zß\ufffd"] if unk else [])
    texts = ["", "aé€😀\n", "a" * 1000 + "€😀é", "zaß\ufffd😀"] if unk else ["", "aé€😀\n", "a" * 1000 + "€😀é"]
    for text in texts:
        ids, n = tok.encode_counted(text.encode())
        assert ids.dtype == np.int64 and np.array_equal(ids, tok.encode(text)) and n == tok.count_unknown(text)
    if not unk:
        with pytest.raises(DataError) as by_bytes:
            tok.encode_counted("a€zq".encode())
        with pytest.raises(DataError) as by_text:
            tok.encode_counted("a€zq")
        assert str(by_bytes.value) == str(by_text.value) and "'z' (U+007A) at position 2" in str(by_text.value)


@pytest.mark.parametrize(
    "tok",
    [ByteTokenizer(), ByteTokenizer(lines=True), CharTokenizer(list("xyz"), lines=True, unk="?"), CharTokenizer(["é"])],
)
def test_dict_round_trip_is_json(tok):
    d = json.loads(json.dumps(tok.to_dict()))
    back = tokenizer_from_dict({**d, "kind": "lines", "boundary_id": tok.boundary_id})  # vocab.json extras ignored
    assert type(back) is type(tok) and back.to_dict() == tok.to_dict()
    assert back.vocab_size == tok.vocab_size and back.boundary_id == tok.boundary_id


def test_bad_dicts_and_ids():
    with pytest.raises(DataError, match="unknown tokenizer type 'wordpiece'"):
        tokenizer_from_dict({"type": "wordpiece"})
    with pytest.raises(DataError, match=r"bpe tokenizer dict lacks \['version'"):
        tokenizer_from_dict({"type": "bpe"})
    with pytest.raises(DataError, match="malformed char tokenizer"):
        tokenizer_from_dict({"type": "char"})
    with pytest.raises(DataError, match=r"id 5 outside \[0, 3\)"):
        CharTokenizer(list("abc")).decode([0, 5])
    with pytest.raises(DataError, match="ids must be integers, got float64"):
        ByteTokenizer().decode([1.5])
    with pytest.raises(DataError, match="boundary token"):
        CharTokenizer(["a", "\n"], lines=True)
