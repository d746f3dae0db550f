"""Train/val/test splits: contiguous for a stream (nanoGPT), shuffled by document for lines (makemore)."""

from __future__ import annotations

import math
from collections.abc import Sequence

from .errors import DataError
from .shuffle import shuffled_range

SPLIT_NAMES = ("train", "val", "test")
DEFAULT_FRACTIONS = {"stream": (0.9, 0.1), "lines": (0.8, 0.1, 0.1)}


def check_fractions(fractions: Sequence[float]) -> tuple[float, ...]:
    """2 (train, val) or 3 (train, val, test) fractions, each in (0, 1), summing to 1."""
    try:
        fr = tuple(float(f) for f in fractions)
    except (TypeError, ValueError):
        raise DataError(f"fractions={fractions!r} must be a list of numbers") from None
    if len(fr) not in (2, 3) or not all(0 < f < 1 for f in fr) or abs(math.fsum(fr) - 1) > 1e-9:
        raise DataError(
            f"fractions={list(fr)} must be 2 or 3 values in (0, 1) summing to 1, e.g. [0.9, 0.1], [0.8, 0.1, 0.1]"
        )
    return fr


def cut_points(n: int, fractions: Sequence[float]) -> list[int]:
    """Split boundaries [0, c1, ..., n]; cumulative sums are rounded so 0.8 + 0.1 cuts at int(0.9 * n), not below."""
    fr = check_fractions(fractions)
    cuts, acc = [0], 0.0
    for f in fr[:-1]:
        acc = round(acc + f, 12)
        cuts.append(int(acc * n))
    return cuts + [n]


def check_cuts(cuts: list[int], fr: tuple[float, ...], unit: str) -> None:
    """Refuse a split that cut_points left empty (of cuts[-1] `unit`s)."""
    for name, a, b, f in zip(SPLIT_NAMES, cuts, cuts[1:], fr, strict=False):
        if a == b:
            raise DataError(
                f"split {name!r} is empty ({f} of {cuts[-1]} {unit}); use a larger corpus or a larger fraction for it"
            )


def _named(parts: list, fr: tuple[float, ...], cuts: list[int], unit: str) -> dict:
    check_cuts(cuts, fr, unit)
    return dict(zip(SPLIT_NAMES, parts, strict=False))


def split_stream(text, fractions: Sequence[float] = DEFAULT_FRACTIONS["stream"]) -> dict:
    """Contiguous pieces of one long text (str or bytes): the first 90% trains, the last 10% validates."""
    fr = check_fractions(fractions)
    c = cut_points(len(text), fr)
    return _named([text[a:b] for a, b in zip(c[:-1], c[1:], strict=True)], fr, c, "characters")


def split_lines(lines: Sequence, fractions: Sequence[float] = DEFAULT_FRACTIONS["lines"], seed: int = 42) -> dict:
    """Documents shuffled with random.Random(seed) (== random.seed(seed); random.shuffle) then cut in order."""
    fr = check_fractions(fractions)
    lines = lines if isinstance(lines, Sequence) else list(lines)
    lines = [lines[i] for i in shuffled_range(len(lines), seed).tolist()]  # random.Random(seed).shuffle's order
    c = cut_points(len(lines), fr)
    return _named([lines[a:b] for a, b in zip(c[:-1], c[1:], strict=True)], fr, c, "lines")
