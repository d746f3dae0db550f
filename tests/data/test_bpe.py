"""Byte-level BPE: training against a plain full-recount reference, encode/decode round trips, specials, the dict
form and its checks, and every DataError."""

import json
from collections import Counter
from contextlib import contextmanager
from functools import cache

import numpy as np
import pytest
import regex
from hypothesis import given, settings
from hypothesis import strategies as st

from lmladder.data import DataError
from lmladder.data.tokenizers import bpe
from lmladder.data.tokenizers.bpe import PATTERNS, BPETokenizer
from lmladder.data.tokenizers.bpe_learn import learn_merges

from ..shared_data import shared_file

TOY = "aaaa aaab aaaaa baaa ab ab aa\naaa\nbbbb abab aaaa\n\naaaaaaa b"
EOT = "<|endoftext|>"


@cache
def shakespeare(start: int = 0, n: int = 4000) -> str:
    return shared_file("tinyshakespeare.txt").read_text()[start : start + n]


@contextmanager
def one_line_error(match):
    with pytest.raises(DataError, match=match) as e:
        yield
    assert "\n" not in str(e.value)


# --- the reference: recount every pair before each merge, merge left to right, apply merges in rank order ---


def ref_merge(ids, pair, new):
    out, i = [], 0
    while i < len(ids):
        if i + 1 < len(ids) and (ids[i], ids[i + 1]) == pair:
            out.append(new)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


def ref_chunks(text, pattern, lines):
    """Every chunk occurrence of every document, in text order, as bytes lists."""
    docs = text.split("\n") if lines else [text]
    return [
        [list(c.encode()) for c in (regex.findall(PATTERNS[pattern], d) if PATTERNS[pattern] else [d]) if c]
        for d in docs
    ]


def ref_train(text, pattern, lines, max_merges=10**9):
    seqs = [c for doc in ref_chunks(text, pattern, lines) for c in doc]
    merges = []
    while len(merges) < max_merges:
        counts = Counter(p for s in seqs for p in zip(s, s[1:], strict=False))
        if not counts:
            break
        pair = min(counts, key=lambda p: (-counts[p], p))  # most frequent, then smallest (first, second)
        if counts[pair] < 2:
            break
        seqs = [ref_merge(s, pair, 256 + len(merges)) for s in seqs]
        merges.append(pair)
    return merges


def ref_encode(text, merges, pattern, lines, boundary=None):
    out = []
    for k, doc in enumerate(ref_chunks(text, pattern, lines)):
        if k:
            out.append(boundary)
        for ids in doc:
            for rank, pair in enumerate(merges):
                ids = ref_merge(ids, pair, 256 + rank)
            out.extend(ids)
    return out


CASES = [(p, lines) for p in PATTERNS for lines in (False, True)]


@pytest.mark.parametrize("pattern,lines", CASES)
@pytest.mark.parametrize("source", ["shakespeare", "toy"])
def test_train_and_encode_match_reference(pattern, lines, source, monkeypatch):
    text, n = (shakespeare(), 60) if source == "shakespeare" else (TOY, 10**9)
    merges = ref_train(text, pattern, lines, n)
    tok = BPETokenizer.train(text, 256 + len(merges) + 1, pattern=pattern, lines=lines)
    assert tok.merges == merges and tok.vocab_size == 256 + len(merges) + 1
    held_out = shakespeare(5000, 3000) + TOY
    for long_chunk in (0, 10**9):  # every chunk through the NumPy pass, then every chunk through the Python loop
        monkeypatch.setattr(bpe, "LONG_CHUNK", long_chunk)
        fresh = BPETokenizer.from_dict(tok.to_dict())
        for t in (text, held_out):
            assert fresh.encode(t).tolist() == ref_encode(t, merges, pattern, lines, tok.boundary_id)


@pytest.mark.parametrize("pattern,lines", CASES)
def test_encode_of_train_text_is_trainings_final_state(pattern, lines):
    text = shakespeare(20000, 6000)
    tok = BPETokenizer.train(text, 400, pattern=pattern, lines=lines)  # its cache holds training's final chunks
    fresh = BPETokenizer.from_dict(tok.to_dict())  # empty cache: merges applied by encode
    np.testing.assert_array_equal(tok.encode(text), fresh.encode(text))
    merges, finals = learn_merges([text.encode()], [1], 100)  # "none", stream: one chunk, never cached
    assert finals[0] == BPETokenizer(merges, pattern="none", specials=()).encode(text).tolist()


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet="ab \n", max_size=60))
def test_incremental_counts_match_reference_on_random_text(text):
    for pattern, lines in (("none", False), ("gpt2", True)):
        merges = ref_train(text, pattern, lines)
        chunks = Counter(
            c for doc in (text.split("\n") if lines else [text]) for c in BPETokenizer([], pattern=pattern)._split(doc)
        )
        got, finals = learn_merges([c.encode() for c in chunks], list(chunks.values()), 10**9)
        assert got == merges
        assert finals == [ref_encode(c, merges, "none", False) for c in chunks]


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet="ab1 \r\n\t.'sé\u00a0\u2028\x0b", max_size=40), st.sampled_from(list(PATTERNS)))
def test_one_split_of_many_documents_is_each_documents_split_in_turn(text, pattern):
    """A lines corpus is split in one findall (LINES_PATTERNS), not one a document: the same chunks, "\\n" apart."""
    per_doc = []
    for k, doc in enumerate(text.split("\n")):
        chunks = regex.findall(PATTERNS[pattern], doc) if PATTERNS[pattern] else [doc] * bool(doc)
        per_doc += ["\n"] * bool(k) + chunks
    assert regex.findall(bpe.LINES_PATTERNS[pattern], text) == per_doc


def test_tie_break_most_frequent_then_smallest_pair():
    # (z, y) occurs 3 times; (a, z) and (a, b) twice each, and (a, z) is seen first but (97, 98) < (97, 122)
    tok = BPETokenizer.train("az\nzy\nab\nzy\naz\nzy\nab", 260, pattern="none", lines=True)
    assert tok.merges == [(122, 121), (97, 98), (97, 122)]
    assert BPETokenizer.train("aaa", 258, pattern="none").encode("aaa").tolist() == [256, 97]  # left to right


@cache
def trained(lines: bool, pattern: str = "gpt4") -> BPETokenizer:
    return BPETokenizer.train(shakespeare(), 330, pattern=pattern, lines=lines, specials=(EOT, "<|pad|>"))


MIXED = st.lists(st.one_of(st.text(), st.sampled_from([EOT, "<|pad|>", "<|", "\n", " the", "  ", "'s", "é"]))).map(
    "".join
)


# a Python str may hold lone surrogates (st.text() never draws them): high, low, reversed pair, next to text
SURROGATES = st.lists(
    st.one_of(st.text(), st.sampled_from(["\ud800", "\udfff", "\udc00\ud83d", "é\udc80 "])), min_size=1
)
SURROGATES = SURROGATES.filter(lambda parts: any(0xD800 <= ord(c) <= 0xDFFF for p in parts for c in p)).map("".join)


@settings(max_examples=200, deadline=None)
@given(text=MIXED, lines=st.booleans(), pattern=st.sampled_from(list(PATTERNS)))
def test_decode_encode_round_trip(text, lines, pattern):
    tok = trained(lines, pattern)
    ids = tok.encode(text)
    assert ids.dtype == np.int64 and tok.decode(ids) == text


@settings(max_examples=100, deadline=None)
@given(SURROGATES)
def test_round_trip_with_lone_surrogates(text):
    assert any(0xD800 <= ord(c) <= 0xDFFF for c in text)
    for lines in (False, True):
        assert trained(lines).decode(trained(lines).encode(text)) == text


def test_special_tokens_stream():
    tok = trained(False)
    n = len(tok.merges)
    assert tok.special_ids == {EOT: 256 + n, "<|pad|>": 257 + n} and tok.vocab_size == 258 + n
    assert tok.boundary_id is None
    ids = tok.encode(f"Hi{EOT}<|pad|>{EOT}\n").tolist()
    assert ids[-4:] == [256 + n, 257 + n, 256 + n, 10] and tok.decode(ids) == f"Hi{EOT}<|pad|>{EOT}\n"
    assert tok.token_bytes(256 + n) == EOT.encode() and tok.token_bytes(65) == b"A"


def test_lines_boundary():
    tok = trained(True)
    b = tok.boundary_id
    assert b == 256 + len(tok.merges) and b == tok.special_ids[EOT]
    ids = tok.encode("\nFirst\nCitizen\n").tolist()
    assert ids[0] == b and ids[-1] == b and ids.count(b) == 3 and 10 not in ids
    assert tok.decode(ids) == "\nFirst\nCitizen\n" and tok.token_bytes(b) == b"\n"
    ids = tok.encode(f"a{EOT}b<|pad|>").tolist()  # the boundary's spelling is plain text; other specials are not
    assert b not in ids and ids[-1] == b + 1 and tok.decode(ids) == f"a{EOT}b<|pad|>"


def test_decode_checks_ids_and_replaces_broken_utf8():
    tok = trained(False)
    assert tok.decode(tok.encode("é")[:1]) == "\ufffd"  # half a character
    assert tok.decode(np.array([], dtype=np.int64)) == ""
    with one_line_error("outside"):
        tok.decode([tok.vocab_size])


def test_dict_round_trip_and_checks():
    tok = trained(True)
    d = json.loads(json.dumps(tok.to_dict()))
    assert d["type"] == "bpe" and d["version"] == 1 and d["pattern"] == "gpt4" and d["lines"] is True
    back = BPETokenizer.from_dict({**d, "kind": "extra keys are ignored"})
    assert back.merges == tok.merges and back.vocab == tok.vocab and back.boundary_id == tok.boundary_id
    text = shakespeare(9000, 2000)
    np.testing.assert_array_equal(back.encode(text), tok.encode(text))

    tampered = {**d, "merges": [*d["merges"][:-1], [97, 97]]}
    with one_line_error("checksum mismatch.*re-run prepare"):
        BPETokenizer.from_dict(tampered)
    for key, value, message in [
        ("merges", d["merges"] + [[0, 10**6]], "earlier token ids"),
        ("merges", d["merges"] + [d["merges"][0]], "repeats merge 0"),
        ("merges", [[1, 2, 3]], "pair of earlier"),
        ("pattern", "gpt5", "data.bpe.pattern='gpt5'.*gpt2, gpt4, none"),
        ("specials", "abc", "specials: list"),
        ("specials", [EOT, EOT], "distinct"),
        ("specials", [], "boundary"),
    ]:
        bad = {k: v for k, v in d.items() if k != "sha256"} | {key: value}
        with one_line_error(message):
            BPETokenizer.from_dict({**bad, "sha256": bpe._checksum(bad)})  # consistent checksum: content checks
    with one_line_error(r"lacks \['sha256'\]"):
        BPETokenizer.from_dict({k: v for k, v in d.items() if k != "sha256"})
    with one_line_error("version 2"):
        BPETokenizer.from_dict({**d, "version": 2})


def test_train_errors():
    with one_line_error(
        r"^data.bpe.vocab_size=100 is below bpe's 256 byte tokens \+ 1 special token; "
        r"choose data.bpe.vocab_size >= 257$"
    ):
        BPETokenizer.train("abc", 100)
    with one_line_error(r"\+ 2 special tokens; choose data.bpe.vocab_size >= 258"):
        BPETokenizer.train("abc", 257, specials=("a", "b"))
    n = len(ref_train(TOY, "gpt4", False))
    assert len(BPETokenizer.train(TOY, 257 + n).merges) == n
    with one_line_error(
        rf"^data.bpe.vocab_size=5000 is more than the train split can merge: it ran out "
        rf"of pairs seen twice after {n} merges \(vocab_size <= {257 + n}\); lower data.bpe.vocab_size$"
    ):
        BPETokenizer.train(TOY, 5000)
    with one_line_error("data.bpe.pattern='gpt3'.*choose one of gpt2, gpt4, none"):
        BPETokenizer.train("abc", 300, pattern="gpt3")
    for empty, lines in (("", False), ("\n\n", True)):
        with one_line_error("train split is empty"):
            BPETokenizer.train(empty, 300, lines=lines)
    for lines in (False, True):
        with one_line_error(r"special token '<\|endoftext\|>' occurs in the train split \(at char 4\)"):
            BPETokenizer.train(f"abc {EOT} abc", 300, lines=lines)
    assert BPETokenizer.train("abab", 257).merges == []  # no merges asked: fine
