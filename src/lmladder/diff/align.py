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
    token_of: dict[str, np.ndarray]  # side -> (C,) index of the target token covering each character (-1: none)
    nll: dict[str, np.ndarray]  # side -> (C,) NLL share of each character (NaN where that side predicts none)
    scored: np.ndarray  # (C,) bool: both sides predict this character
    classes: np.ndarray  # (C,) class label of each character
    unit: np.ndarray  # (C,) bootstrap unit (document or block) of each character

    @property
    def gain(self) -> np.ndarray:
        """(C,) NLL_A − NLL_B (nats; > 0: B is better here), 0 where not both sides score."""
        return np.where(self.scored, self.nll["A"] - self.nll["B"], 0.0)


def _per_char(side: Side) -> tuple[str, np.ndarray, np.ndarray]:
    """(the text the side's tokens spell, token index per character, NLL share per character)."""
    chars, _, raw = token_sizes(side.tokenizer, side.ids, None)  # (N,) characters each token adds
    text = raw.decode("utf-8", "surrogatepass")
    tok = np.repeat(np.arange(len(chars)) - 1, chars)  # (C,) -1: the first token's characters, context only
    nll, adds = side.scores.nll, chars[1:]  # (N-1,) each target's NLL and the characters it adds
    if (adds == 0).any():  # a byte inside a UTF-8 character adds none: its NLL goes to the token that completes it
        nz = np.flatnonzero(adds)
        nll = np.bincount(nz[np.minimum(np.searchsorted(nz, np.arange(len(adds))), len(nz) - 1)], weights=nll,
                          minlength=len(adds))  # fmt: skip
    share = np.full(len(tok), np.nan)
    inside = tok >= 0
    share[inside] = nll[tok[inside]] / adds[tok[inside]]
    return text, tok, share


def classes_of(text: str, lines: bool) -> np.ndarray:
    """Names (a lines corpus): a character's position in its document ("1st".."6th+", "end" for the boundary);
    otherwise its kind: newline, space, capital, letter, digit, punctuation or other."""
    out = np.empty(len(text), dtype=object)
    pos = 0
    for i, c in enumerate(text):
        if lines:
            out[i] = "end" if c == "\n" else _ordinal(min(pos + 1, NAME_POSITIONS), pos + 1 >= NAME_POSITIONS)
            pos = 0 if c == "\n" else pos + 1
        elif c == "\n":
            out[i] = "newline"
        elif c.isspace():
            out[i] = "space"
        elif c.isupper():
            out[i] = "capital"
        elif c.isalpha():
            out[i] = "letter"
        elif c.isdigit():
            out[i] = "digit"
        else:
            out[i] = "punctuation" if c.isprintable() else "other"
    return out


def _ordinal(n: int, plus: bool) -> str:
    return f"{n}{ {1: 'st', 2: 'nd', 3: 'rd'}.get(n, 'th') }{'+' if plus else ''}".replace(" ", "")


def align(a: Side, b: Side, *, lines: bool) -> Aligned:
    """Line `a` and `b` up on the characters of their text; both must spell the same text."""
    (ta, ia, na), (tb, ib, nb) = _per_char(a), _per_char(b)
    if ta != tb:
        at = next((i for i, (x, y) in enumerate(zip(ta, tb, strict=False)) if x != y), min(len(ta), len(tb)))
        raise DiffError(
            f"A's and B's tokens spell different texts (first difference at character {at}: {ta[at : at + 12]!r} vs "
            f"{tb[at : at + 12]!r}); a tokenizer that changes the text (a word vocabulary's <unk>) cannot be lined "
            "up on characters: diff rungs trained with character, byte or BPE tokenizers"
        )
    if lines:  # a document ends with its boundary newline; the opening newline is context only
        newlines_before = np.cumsum(np.frombuffer(ta.encode("utf-32-le"), np.uint32) == 10) - 1  # (C,) per char
        unit = np.maximum(np.concatenate([[0], newlines_before[:-1]]), 0)
    else:
        unit = np.arange(len(ta)) // UNIT_CHARS
    scored = ~np.isnan(na) & ~np.isnan(nb)
    return Aligned(ta, {"A": ia, "B": ib}, {"A": na, "B": nb}, scored, classes_of(ta, lines), unit)
