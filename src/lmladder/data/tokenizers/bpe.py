"""Byte-level BPE (Sennrich et al. 2016; GPT-2's byte-level form, Radford et al. 2019), written to be read.

Vocabulary: ids 0..255 are the raw bytes, then one id per learned merge (256 + rank, in merge order), then the
special tokens. Text is first cut into chunks by a pre-split regex (merges never cross chunks); each chunk's UTF-8
bytes are merged. In a lines corpus "\\n" separates documents and is the first special token (the boundary), so
merges never touch it and `decode` renders it back as "\\n".

    tok = BPETokenizer.train(text, 1024, pattern="gpt4")
    tok.decode(tok.encode(s)) == s                      # for any str, lone surrogates included
    BPETokenizer.from_dict(json.loads(json.dumps(tok.to_dict())))
"""

from __future__ import annotations

import codecs
import hashlib
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import regex

from ...rules import check_fields, choice, integer
from ..errors import DataError
from ..splits import SPLIT_NAMES
from .base import Tokenizer
from .bpe_learn import learn_merges

PATTERNS: dict[str, str | None] = {
    # GPT-2 (openai/gpt-2 encoder.py): contractions, letter runs, number runs, punctuation runs, whitespace
    "gpt2": r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""",
    # GPT-4 (tiktoken cl100k_base): case-blind contractions, numbers of at most 3 digits, newlines kept apart
    "gpt4": r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]++[\r\n]*"""
    r"""|\s*[\r\n]|\s+(?!\S)|\s+""",
    "none": None,
}
# The same for a lines corpus's text, where "\n" only separates documents: within a document (no "\n") each matches
# what its namesake matches, no chunk crosses a "\n" ("\s" made "[^\S\n]", "[\r\n]" made "\r"; none has a
# lookbehind or an anchor, and a lookahead sees "\n" as it sees the end), and "\n" is a chunk of its own: one
# findall over many documents gives the chunks of each in turn (tests/data/test_bpe.py), not one call a document.
LINES_PATTERNS: dict[str, str] = {
    "gpt2": r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|[^\S\n]+(?!\S)|[^\S\n]+|\n""",
    "gpt4": r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]++\r*"""
    r"""|[^\S\n]*\r|[^\S\n]+(?!\S)|[^\S\n]+|\n""",
    "none": r"""[^\n]+|\n""",
}
MAX_VOCAB = 65536  # the most bpe tokens: ids are stored as uint8, uint16 or uint32 (prepared.token_dtype)
LONG_CHUNK = 256  # bytes: longer chunks are merged by a NumPy pass per merge, shorter ones by a Python loop
CACHE_MAX = 1 << 18  # cached chunk encodings; the cache starts over past this, so endless unique text stays bounded
_ABSENT = 1 << 62  # rank of a pair that is no merge
_FIX = "restore the tokenizer file or re-run prepare"


def _surrogatepass_else_replace(err: UnicodeDecodeError):
    # a Python str may hold lone surrogates: they round-trip exactly; bytes that are no UTF-8 at all become U+FFFD
    try:
        return codecs.lookup_error("surrogatepass")(err)
    except UnicodeDecodeError:
        return codecs.lookup_error("replace")(err)


DECODE_ERRORS = "lmladder.bpe"  # the codec error handler decode() uses, registered here
codecs.register_error(DECODE_ERRORS, _surrogatepass_else_replace)


def _checksum(fields: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


@dataclass
class BPESettings:
    """bpe's own data settings (`data.bpe`): the vocabulary's size (256 bytes + merges + 1 special token,
    <|endoftext|>, a lines corpus's separator) and the pre-split regex (merges never cross a pre-split chunk)."""

    vocab_size: int = integer(1024, low=257, high=MAX_VOCAB, note="bpe's 256 byte tokens + 1 special token at least")
    pattern: str = choice("gpt4", PATTERNS, note="the pre-split regex; none merges across everything")

    def check(self) -> None:
        check_fields(self, DataError)


class BPETokenizer(Tokenizer):
    """Byte-level BPE: 256 byte ids, then merges (id 256 + rank), then specials; see the module docstring."""

    name = "bpe"
    settings = BPESettings
    decode_errors = DECODE_ERRORS

    def __init__(self, merges, *, pattern: str = "gpt4", lines: bool = False, specials=("<|endoftext|>",)):
        if pattern not in PATTERNS:
            raise DataError(
                f"data.bpe.pattern={pattern!r} is not a known pre-split pattern; choose one of {', '.join(PATTERNS)}"
            )
        specials = list(specials)
        if not all(isinstance(s, str) and s for s in specials) or len(set(specials)) != len(specials):
            raise DataError(
                f"bpe specials must be distinct non-empty strings, got {specials!r}; e.g. ['<|endoftext|>']"
            )
        if lines and (not specials or any("\n" in s for s in specials)):
            raise DataError(
                f"a lines bpe tokenizer needs a first special token (the boundary) and no '\\n' inside specials, "
                f"got {specials!r}; use the default ['<|endoftext|>']"
            )
        vocab = [bytes([i]) for i in range(256)]
        self._ids: dict[tuple[int, int], int] = {}  # pair -> merged id; ids grow with rank, so min id = first rank
        for k, m in enumerate(merges):
            ok = isinstance(m, list | tuple) and len(m) == 2
            ok = ok and all(isinstance(x, int | np.integer) and not isinstance(x, bool) for x in m)
            if not ok or not all(0 <= x < len(vocab) for x in m):
                raise DataError(
                    f"bpe merge {k} {m!r} must be a pair of earlier token ids (each < {len(vocab)}); {_FIX}"
                )
            pair = (int(m[0]), int(m[1]))
            if pair in self._ids:
                raise DataError(f"bpe merge {k} {list(pair)} repeats merge {self._ids[pair] - 256}; {_FIX}")
            self._ids[pair] = len(vocab)
            vocab.append(vocab[pair[0]] + vocab[pair[1]])
        self.merges = list(self._ids)
        self.pattern, self.lines, self.specials = pattern, bool(lines), specials
        self.special_ids = {s: len(vocab) + k for k, s in enumerate(specials)}
        self.boundary_id = len(vocab) if self.lines else None
        vocab += [
            b"\n" if self.lines and k == 0 else s.encode("utf-8", "surrogatepass") for k, s in enumerate(specials)
        ]
        self.vocab: list[bytes] = vocab  # id -> its bytes (the boundary's are b"\n")
        self.vocab_size = len(vocab)
        # the boundary stands for "\n", so its own spelling is plain text there; other specials match literally
        literal = sorted(specials[1:] if self.lines else specials, key=len, reverse=True)  # longest match first
        self._special_re = regex.compile("(" + "|".join(map(regex.escape, literal)) + ")") if literal else None
        split = LINES_PATTERNS[pattern] if self.lines else PATTERNS[pattern]
        self._split_re = regex.compile(split) if split else None
        self._cache: dict[str, list[int]] = {}

    @classmethod
    def train(
        cls, text: str, vocab_size: int, *, pattern: str = "gpt4", lines: bool = False, specials=("<|endoftext|>",)
    ) -> BPETokenizer:
        """Learn vocab_size - 256 - len(specials) merges from text.

        Each step merges the most frequent adjacent pair (counted within chunks, overlaps included); among equally
        frequent pairs the smallest (first id, second id) wins, so training is deterministic and independent of
        dict or hash order. Occurrences merge left to right without overlap ("aaa" with (a, a) -> [aa, a]).
        Raises DataError when the text cannot supply the merges asked (no pair seen twice is left).
        """
        tok = cls([], pattern=pattern, lines=lines, specials=specials)  # validates pattern and specials
        floor = 256 + len(tok.specials)
        if vocab_size < floor:
            s = "" if len(tok.specials) == 1 else "s"
            raise DataError(
                f"data.bpe.vocab_size={vocab_size} is below bpe's 256 byte tokens + {len(tok.specials)} special "
                f"token{s}; choose data.bpe.vocab_size >= {floor}"
            )
        docs = text.split("\n") if tok.lines else [text]
        if not any(docs):
            raise DataError("the train split is empty: bpe has no text to learn merges from; check the corpus")
        tok.refuse_specials(text, "train")
        counts = Counter(chunk for doc in docs for chunk in tok._split(doc))
        chunks = [c.encode("utf-8", "surrogatepass") for c in counts]
        merges, finals = learn_merges(chunks, list(counts.values()), vocab_size - floor)
        if len(merges) < vocab_size - floor:
            raise DataError(
                f"data.bpe.vocab_size={vocab_size} is more than the train split can merge: it ran out of pairs seen "
                f"twice after {len(merges)} merges (vocab_size <= {floor + len(merges)}); lower data.bpe.vocab_size"
            )
        tok = cls(merges, pattern=pattern, lines=lines, specials=specials)
        # training already holds every train chunk's encoding: encode(train text) starts with a warm cache
        tok._cache.update((c, ids) for c, b, ids in zip(counts, chunks, finals, strict=True) if len(b) <= LONG_CHUNK)
        return tok

    @classmethod
    def build(
        cls, train: str, *, lines: bool = False, others: Sequence = (), vocab_size: int = 1024, pattern="gpt4"
    ) -> BPETokenizer:
        tok = cls.train(train, vocab_size, pattern=pattern, lines=lines)
        for name, text in zip(SPLIT_NAMES[1:], others, strict=False):  # encode would make a literal one special
            tok.refuse_specials(text, name)
        return tok

    def refuse_specials(self, text: str, split: str, offset: int = 0) -> None:
        """DataError when a special token's spelling occurs in `text` (the corpus's `split`, from its character
        `offset` on): encoded, it would silently become the special token."""
        for s in self.specials:
            if (at := text.find(s)) >= 0:
                raise DataError(
                    f"special token {s!r} occurs in the {split} split (at char {offset + at}); remove it from the "
                    "text or train with special tokens that do not occur in it"
                )

    def _split(self, text: str) -> list[str]:
        if self._split_re is None:
            return [text] if text else []
        return self._split_re.findall(text)

    def _merge_short(self, ids: list[int]) -> list[int]:
        # merging the lowest-rank pair present, again and again, is applying the merges in rank order: a merge's
        # parts are older ids, so no merge can create a pair of an earlier rank
        while len(ids) >= 2:
            new = min(self._ids.get(p, _ABSENT) for p in zip(ids, ids[1:], strict=False))
            if new == _ABSENT:
                break
            a, b = self.merges[new - 256]
            out, i = [], 0
            while i < len(ids):
                if ids[i] == a and i + 1 < len(ids) and ids[i + 1] == b:
                    out.append(new)
                    i += 2
                else:
                    out.append(ids[i])
                    i += 1
            ids = out
        return ids

    def _merge_long(self, data: bytes) -> list[int]:
        x = np.frombuffer(data, dtype=np.uint8).astype(np.int32)
        for new, (a, b) in enumerate(self.merges, start=256):
            i = np.flatnonzero(x[:-1] == a)
            i = i[x[i + 1] == b]
            if i.size == 0:
                continue
            if a == b:  # in a run of a's the matches overlap: keep every other one from the run's start
                first = np.r_[True, np.diff(i) != 1]
                i = i[(i - i[first][np.cumsum(first) - 1]) % 2 == 0]
            x[i] = new
            x = np.delete(x, i + 1)
        return x.tolist()

    def _encode_text(self, text: str, out: list[int]) -> None:
        for chunk in self._split(text):
            ids = self._cache.get(chunk)
            if ids is None:
                if self.lines and chunk == "\n":  # a document ends
                    out.append(self.boundary_id)  # type: ignore[arg-type]
                    continue
                data = chunk.encode("utf-8", "surrogatepass")
                if len(data) > LONG_CHUNK:
                    out.extend(self._merge_long(data))
                    continue
                ids = self._merge_short(list(data))
                if len(self._cache) >= CACHE_MAX:
                    self._cache.clear()
                self._cache[chunk] = ids
            out.extend(ids)

    def encode(self, text: str) -> np.ndarray:
        out: list[int] = []
        for m, piece in enumerate(self._special_re.split(text) if self._special_re else [text]):
            if m % 2:  # split puts the matched special tokens at odd places (none holds a "\n")
                out.append(self.special_ids[piece])
            else:
                self._encode_text(piece, out)
        return np.array(out, dtype=np.int64)

    def decode(self, ids) -> str:
        data = b"".join([self.vocab[i] for i in self.checked_ids(ids).tolist()])
        return data.decode("utf-8", errors=self.decode_errors)

    def token_bytes(self, id: int) -> bytes:
        return self.vocab[id]

    def describe(self) -> str:
        return f"bpe-{self.vocab_size}/{self.pattern}"

    def to_dict(self) -> dict[str, Any]:
        fields = {
            "type": self.name,
            "version": 1,
            "pattern": self.pattern,
            "lines": self.lines,
            "specials": list(self.specials),
            "merges": [list(m) for m in self.merges],
        }
        return {**fields, "sha256": _checksum(fields)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> BPETokenizer:
        names = ("type", "version", "pattern", "lines", "specials", "merges")
        missing = [k for k in (*names, "sha256") if k not in d] if isinstance(d, dict) else ["(not a dict)"]
        if missing:
            raise DataError(f"bpe tokenizer dict lacks {missing}; {_FIX}")
        if d["type"] != "bpe" or d["version"] != 1:
            raise DataError(
                f"bpe tokenizer dict has type {d['type']!r} version {d['version']!r}, expected 'bpe' version 1; "
                "re-run prepare with this lmladder"
            )
        if _checksum({k: d[k] for k in names}) != d["sha256"]:
            raise DataError(f"bpe tokenizer checksum mismatch: the merges/specials were edited after training; {_FIX}")
        if not isinstance(d["lines"], bool) or not isinstance(d["specials"], list) or not isinstance(d["merges"], list):
            raise DataError(f"bpe tokenizer dict needs lines: bool, specials: list, merges: list; {_FIX}")
        return cls(d["merges"], pattern=d["pattern"], lines=d["lines"], specials=d["specials"])
