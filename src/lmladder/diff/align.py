"""Two models' per-token scores of one text, lined up on its characters.

Each side scores the text with its own tokenizer (inference/tokens.py). A predicted token's NLL is spread evenly
over the characters it adds to the text, so a character's NLL sums, over the text, to the side's exact total (bits
per character are comparable across tokenizers); characters neither side predicts (the first token, which is only
context) are left out. With one tokenizer and one character per token, a character's NLL is its token's."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..data.tokenizers import Tokenizer
from ..errors import LmladderError
from ..inference.scoring import IMPOSSIBLE_FIX, impossible_tokens
from ..inference.tokens import TokenScores
from ..inference.units import token_sizes

UNIT_CHARS = 1000  # a stream's bootstrap unit: blocks of this many characters (as inference/units.py cuts them)
NAME_POSITIONS = 6  # names: letters 1..5 get a class each, the rest share "6th+"


class DiffError(LmladderError, ValueError):
    """Two models cannot be lined up on this text; the message names why and the fix."""


@dataclass
class Side:
    name: str  # "A" or "B"
    label: str  # the run or checkpoint, as given
    rung: str
    tokenizer: Tokenizer
    ids: np.ndarray  # (N,) the text as this side's tokens
    scores: TokenScores  # of targets ids[1:]


@dataclass
class Aligned:
    text: str
    token_of: dict[str, np.ndarray]  # side -> (C,) int32 index of the target token covering each character (-1: none)
    nll: dict[str, np.ndarray]  # side -> (C,) NLL share of each character (NaN where that side predicts none)
    scored: np.ndarray  # (C,) bool: both sides predict this character
    classes: np.ndarray  # (C,) int8: each character's class, an index into class_names
    class_names: tuple[str, ...]
    unit: np.ndarray  # (C,) int32 bootstrap unit (document or block) of each character

    @property
    def gain(self) -> np.ndarray:
        """(C,) NLL_A − NLL_B (nats; > 0: B is better here), 0 where not both sides score."""
        return np.where(self.scored, self.nll["A"] - self.nll["B"], 0.0)


def spelled(tok: Tokenizer, ids: np.ndarray, what: str = "the text") -> tuple[str, np.ndarray]:
    """(the text `ids` spell, (N,) characters each token adds to it). Characters are what a diff lines up on, so a
    text that is no UTF-8 (a byte vocabulary reads any bytes; a lone surrogate is no character either) is refused
    in one line: it was a UnicodeDecodeError or UnicodeEncodeError traceback after both models had scored it."""
    chars, _, raw = token_sizes(tok, ids, None)  # (N,) characters each token adds
    try:
        return raw.decode("utf-8"), chars
    except UnicodeDecodeError as e:
        raise DiffError(
            f"{what} is not valid UTF-8 (byte {raw[e.start]:#04x} at offset {e.start}), and a diff lines the models "
            "up on its characters; give a UTF-8 text (e.g. iconv -f latin1 -t utf-8 FILE > utf8.txt), or compare "
            "the two on these bytes with lmladder evaluate --units and lmladder compare"
        ) from None


def check_possible(side: Side, what: str = "the text") -> None:
    """Refuse a side that holds some target impossible (the count rung with k=0): its NLL there is infinite, and a
    share of 1e30 per character would colour and total the page as if it were a number. The rule is evaluate's."""
    if n := impossible_tokens(float(side.scores.nll.sum())):
        raise DiffError(
            f"{side.name} ({side.label}) gives {n:,} token{'s' * (n > 1)} of {what} zero probability: its NLL is "
            f"infinite there, so no difference can be drawn; {IMPOSSIBLE_FIX}"
        )


def _per_char(side: Side) -> tuple[str, np.ndarray, np.ndarray]:
    """(the text the side's tokens spell, token index per character, NLL share per character)."""
    text, chars = spelled(side.tokenizer, side.ids)
    tok = np.repeat(np.arange(len(chars), dtype=np.int32) - 1, chars)  # (C,) -1: the first token's, context only
    nll, adds = side.scores.nll, chars[1:]  # (N-1,) each target's NLL and the characters it adds
    if (adds == 0).any():  # a byte inside a UTF-8 character adds none: its NLL goes to the token that completes it
        nz = np.flatnonzero(adds)
        nll = np.bincount(nz[np.minimum(np.searchsorted(nz, np.arange(len(adds))), len(nz) - 1)], weights=nll,
                          minlength=len(adds))  # fmt: skip
    share = np.full(len(tok), np.nan)
    inside = tok >= 0
    share[inside] = nll[tok[inside]] / adds[tok[inside]]
    return text, tok, share


KINDS = ("letter", "capital", "space", "newline", "punctuation", "digit", "other")  # a stream's classes


def classes_of(text: str, lines: bool) -> tuple[np.ndarray, tuple[str, ...]]:
    """((C,) int8 class of each character, the class names). Names (a lines corpus): a character's position in its
    document ("1st".."6th+", "end" for the boundary); otherwise its kind: newline, space, capital, letter, digit,
    punctuation or other. Each distinct character is classified once (a text of millions has a few hundred)."""
    code = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), np.uint32)  # (C,) code points
    newline = code == 10
    if lines:
        names = tuple(_ordinal(n, n == NAME_POSITIONS) for n in range(1, NAME_POSITIONS + 1)) + ("end",)
        i = np.arange(len(code))
        last = np.maximum.accumulate(np.where(newline, i, -1))  # (C,) the latest newline at or before each character
        pos = i - np.concatenate([[-1], last[:-1]]) - 1  # (C,) characters since the document began
        return np.where(newline, NAME_POSITIONS, np.minimum(pos, NAME_POSITIONS - 1)).astype(np.int8), names
    distinct, inverse = np.unique(code, return_inverse=True)
    return np.array([KINDS.index(_kind(chr(c))) for c in distinct.tolist()], np.int8)[inverse].reshape(-1), KINDS


def _kind(c: str) -> str:
    if c == "\n":
        return "newline"
    if c.isspace():
        return "space"
    if c.isupper():
        return "capital"
    if c.isalpha():
        return "letter"
    if c.isdigit():
        return "digit"
    return "punctuation" if c.isprintable() else "other"


def _ordinal(n: int, plus: bool) -> str:
    return f"{n}{ {1: 'st', 2: 'nd', 3: 'rd'}.get(n, 'th') }{'+' if plus else ''}".replace(" ", "")


def align(a: Side, b: Side, *, lines: bool) -> Aligned:
    """Line `a` and `b` up on the characters of their text; both must spell the same text and hold every target
    possible (`check_possible`)."""
    check_possible(a)
    check_possible(b)
    (ta, ia, na), (tb, ib, nb) = _per_char(a), _per_char(b)
    if ta != tb:
        at = next((i for i, (x, y) in enumerate(zip(ta, tb, strict=False)) if x != y), min(len(ta), len(tb)))
        raise DiffError(
            f"A's and B's tokens spell different texts (first difference at character {at}: {ta[at : at + 12]!r} vs "
            f"{tb[at : at + 12]!r}); a tokenizer that changes the text (a word vocabulary's <unk>) cannot be lined "
            "up on characters: diff rungs trained with character, byte or BPE tokenizers"
        )
    classes, names = classes_of(ta, lines)
    if lines:  # a document ends with its boundary newline; the opening newline is context only
        newlines_before = np.cumsum(classes == NAME_POSITIONS, dtype=np.int32) - 1  # (C,) newlines up to each char
        unit = np.maximum(np.concatenate([np.zeros(1, np.int32), newlines_before[:-1]]), 0)
    else:
        unit = (np.arange(len(ta)) // UNIT_CHARS).astype(np.int32)
    scored = ~np.isnan(na) & ~np.isnan(nb)
    return Aligned(ta, {"A": ia, "B": ib}, {"A": na, "B": nb}, scored, classes, names, unit)
