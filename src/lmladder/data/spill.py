"""A lines corpus's documents in shuffled order without random reads (streaming_lines.py's passes 2 and 3).

Every split is wanted in the order random.Random(split_seed) shuffled its documents, a block at a time. Gathering
each block's scattered documents from the file took a page fault per document (25M for 1 GB) and kept the pages
around each resident until the block ended. Instead the documents are moved twice, in order each time:

    plan   blocks of at most BLOCK documents or about CHUNK bytes, grouped into windows of about WINDOW bytes,
           each window inside one split
    write  the file read once from start to end, a piece at a time; each document appended to the spill file of
           the window that holds its place in the shuffle, with that place and its length
    read   a window's files read whole and its documents put in order in memory; then yielded block by block

Disk: the corpus again, plus 8 bytes a document (16 from 4 GiB). Memory: 8 bytes a line while writing (the lengths and
the shuffle's inverse; 12 while it is computed), then about twice WINDOW.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from . import streaming
from .bytes_jit import copy_ranges, invert
from .streaming import trim

BLOCK = 1 << 16  # documents yielded (decoded, encoded) at a time
WINDOW = 1 << 26  # bytes of documents put in order in memory at a time


class Spill:
    """Spill files under `folder` for the documents order[cuts[k]:cuts[k + 1]] of every split k, from `pieces`: the
    corpus's lines in file order (streaming_lines.line_pieces), `size` bytes in all. `order` becomes its inverse:
    each line's place in the shuffle."""

    def __init__(self, folder: Path, pieces, lens, order, cuts: list[int], size: int):
        self.folder, self.cuts = folder, cuts
        self.pair = _pair(size)
        self.bounds, self.windows = _plan(lens, order, cuts)
        rank = np.empty_like(order)
        invert(order, rank)
        order[:] = rank  # the shuffle is not needed again: 4 bytes a line fewer while the spill is written
        del rank
        folder.mkdir()
        self._write(pieces, order)

    @staticmethod
    def disk_need(path: Path, lines: int) -> int:
        size = path.stat().st_size
        return size + lines * 2 * _pair(size).itemsize

    def _write(self, pieces, rank) -> None:
        small = np.uint16 if len(self.windows) <= 1 << 16 else np.int64  # argsort's stable sort is a radix sort
        m = 0
        for buf, starts, lens in pieces:
            place = rank[m : m + len(lens)].astype(np.int64)
            m += len(lens)
            w = np.searchsorted(self.windows, place, side="right") - 1
            by = np.argsort(w.astype(small), kind="stable")
            w, place, ln = w[by], place[by], lens[by].astype(np.int64)
            at = _starts_of(ln)
            out = np.empty(int(at[-1]), dtype=np.uint8)
            copy_ranges(buf, starts[by], ln, out, at)
            pairs = np.stack([place - self.windows[w], ln], axis=1).astype(self.pair)
            edges = [0, *(np.flatnonzero(np.diff(w)) + 1).tolist(), len(w)]
            for a, b in zip(edges[:-1], edges[1:], strict=False):
                with open(self.folder / f"{w[a]}.bytes", "ab") as g:
                    g.write(out[at[a] : at[b]].data)
                with open(self.folder / f"{w[a]}.pairs", "ab") as g:
                    g.write(pairs[a:b].data)

    def blocks(self, k: int) -> Iterator[tuple[int, bytes]]:
        """(documents, their bytes joined by "\\n") of split k, block by block in shuffled order."""
        for w in self._windows_of(k):
            a, b = int(self.windows[w]), int(self.windows[w + 1])
            pairs = np.fromfile(self.folder / f"{w}.pairs", dtype=self.pair).reshape(-1, 2).astype(np.int64)
            blob = np.fromfile(self.folder / f"{w}.bytes", dtype=np.uint8)
            ln, src = np.empty(b - a, dtype=np.int64), np.empty(b - a, dtype=np.int64)
            ln[pairs[:, 0]], src[pairs[:, 0]] = pairs[:, 1], _starts_of(pairs[:, 1])[:-1]
            del pairs
            at = _starts_of(ln + 1)  # each document's place in the window, a "\n" after each
            out = np.full(int(at[-1]) - 1, ord("\n"), dtype=np.uint8)
            copy_ranges(blob, src, ln, out, at)
            del blob, src
            cut = self.bounds[(self.bounds >= a) & (self.bounds <= b)] - a
            for s, e in zip(cut[:-1].tolist(), cut[1:].tolist(), strict=True):
                yield e - s, out[at[s] : at[e] - 1].tobytes()
            del out
            trim()

    def unordered(self, k: int) -> Iterator[np.ndarray]:
        """Split k's documents as bytes, in no particular order and with nothing between them, a window at a time: for
        what depends on neither (the characters seen), one read and no copy."""
        for w in self._windows_of(k):
            yield np.fromfile(self.folder / f"{w}.bytes", dtype=np.uint8)

    def _windows_of(self, k: int) -> range:
        first, last = np.searchsorted(self.windows, [self.cuts[k], self.cuts[k + 1]])
        return range(int(first), int(last))


def _pair(size: int) -> np.dtype:
    """The dtype of a spilled document's (place, length): both below the corpus's size."""
    return np.dtype(np.uint32 if size < 1 << 32 else np.int64)


def _starts_of(lens: np.ndarray) -> np.ndarray:
    """0, lens[0], lens[0] + lens[1], ..., sum(lens): where each range starts, and the end."""
    at = np.zeros(len(lens) + 1, dtype=np.int64)
    np.cumsum(lens, out=at[1:])
    return at


def _plan(lens, order, cuts: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """(where each block starts, then the end; where each window starts, then the end), as places in `order`. A
    block ends before the document that would take it past CHUNK bytes; a window before the block that would take
    it past WINDOW."""
    bounds, windows = [], []
    for lo, hi in zip(cuts[:-1], cuts[1:], strict=True):
        a, size = lo, WINDOW  # as if a window were full: each split starts one
        while a < hi:
            cum = np.cumsum(lens[order[a : min(a + BLOCK, hi)]].astype(np.int64) + 1)
            take = min(max(int(np.searchsorted(cum, cum[0] + streaming.CHUNK)), 1), len(cum))
            if size + int(cum[take - 1]) > WINDOW:
                windows.append(a)
                size = 0
            bounds.append(a)
            a, size = a + take, size + int(cum[take - 1])
    return np.array([*bounds, cuts[-1]], dtype=np.int64), np.array([*windows, cuts[-1]], dtype=np.int64)
