"""Batches of (x, y) int64 id arrays for training and evaluation; targets that carry no loss are IGNORE_INDEX.

- stream (nanoGPT): random windows of seq_len tokens, y = x shifted by one.
- lines (makemore): whole documents [B, c1, ..., cn] -> x = [B, c1..cn], y = [c1..cn, B], right-padded.
- last (Zero-to-Hero): random single targets of either kind, x the tokens before each, y (B, 1).
- eval_batches scores every predicted token of a split exactly once, each with at least seq_len // 2 context.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from .errors import DataError

IGNORE_INDEX = -1  # target value that carries no loss (padding, unscored eval positions)


def sample_windows(tokens: np.ndarray, batch_size: int, seq_len: int, rng: np.random.Generator):
    """nanoGPT's get_batch: batch_size random windows, x = tokens[i:i+T], y = tokens[i+1:i+T+1]."""
    n, T = len(tokens), seq_len
    if n - T < 1:
        raise DataError(
            f"split has {n} tokens, too short for seq_len={T} (windows need seq_len + 1); "
            f"use seq_len <= {max(n - 1, 1)}"
        )
    return windows_at(tokens, rng.integers(0, n - T, batch_size), T)


def windows_at(tokens: np.ndarray, starts: np.ndarray, seq_len: int):
    """The windows x = tokens[i:i+T], y = tokens[i+1:i+T+1] at the given starts i (each <= len(tokens) - T - 1)."""
    pos = starts[:, None] + np.arange(seq_len)  # (B, T)
    return np.asarray(tokens[pos], dtype=np.int64), np.asarray(tokens[pos + 1], dtype=np.int64)


def doc_bounds(tokens: np.ndarray, boundary_id: int) -> tuple[np.ndarray, np.ndarray]:
    """(starts, ends) of the documents of a lines split: tokens[s:e+1] runs from a boundary to the next, inclusive."""
    b = np.flatnonzero(np.asarray(tokens) == boundary_id)
    if len(b) < 2 or b[0] != 0 or b[-1] != len(tokens) - 1:
        raise DataError(
            f"a lines split must start and end with the boundary id {boundary_id} and hold a document; "
            "re-run prepare (kind=lines) or use kind=stream"
        )
    return b[:-1], b[1:]


def sample_docs(tokens, bounds, batch_size: int, seq_len: int, rng: np.random.Generator):
    """batch_size documents drawn uniformly; a document longer than seq_len + 1 gets a random crop of that
    length. x is right-padded with the boundary id, y with IGNORE_INDEX, to the longest row of the batch."""
    starts, ends = bounds
    d = rng.integers(0, len(starts), batch_size)
    length = ends[d] - starts[d] + 1  # tokens in each chosen document, both boundaries included
    off = rng.integers(0, np.maximum(length - (seq_len + 1), 0) + 1)  # 0 unless the document is cropped
    return docs_at(tokens, bounds, d, off, seq_len)


def docs_at(tokens, bounds, docs: np.ndarray, off: np.ndarray, seq_len: int):
    """The rows of documents `docs` of a lines split, each cropped to seq_len + 1 tokens from `off` on (0 for a
    document that fits), padded as sample_docs's."""
    starts, ends = bounds
    length = ends[docs] - starts[docs] + 1
    rows = np.minimum(length, seq_len + 1) - 1  # scored targets per row
    pad = int(tokens[starts[0]])  # every document starts with the boundary id
    return _gather(tokens, starts[docs] + off, rows, np.zeros_like(rows), pad=pad)


def sample_last(tokens, starts, batch_size: int, seq_len: int, pad: int, rng: np.random.Generator):
    """Zero-to-Hero's batches: batch_size targets tokens[p] drawn uniformly from the whole split (p >= 1), each row
    x the seq_len tokens before it and y = [[tokens[p]]] (B, 1). Rows never share a sequence, so no row's target
    sits in another row (which BatchNorm's batch statistics would leak). With document `starts` (a lines split),
    tokens before the target's own document are pad, as makemore's '...' context."""
    p = rng.integers(1, len(tokens), batch_size)  # (B,) target positions
    pos = p[:, None] - seq_len + np.arange(seq_len)  # (B, T) the context, oldest first
    first = np.zeros_like(p) if starts is None else starts[np.searchsorted(starts, p - 1, side="right") - 1]
    x = np.where(pos >= first[:, None], np.asarray(tokens[np.maximum(pos, 0)], dtype=np.int64), pad)
    return x, np.asarray(tokens[p], dtype=np.int64)[:, None]


def _gather(tokens, start, width, first, pad: int):
    """Rows x = tokens[s:s+w], y = tokens[s+1:s+w+1], scored from column `first` on; padded to max(width)."""
    W = int(width.max())
    col = np.arange(W)
    pos = np.minimum(start[:, None] + col, len(tokens) - 2)  # (R, W); clipped reads are masked below
    inside = col < width[:, None]
    x = np.where(inside, np.asarray(tokens[pos], dtype=np.int64), pad)  # int64 first: -1 wraps in uint8
    y = np.where(inside & (col >= first[:, None]), np.asarray(tokens[pos + 1], dtype=np.int64), IGNORE_INDEX)
    return x, y


def eval_plan(tokens: np.ndarray, *, kind: str, boundary_id: int | None, seq_len: int):
    """Rows (start, width, first) that score every target tokens[1:] once: row r reads x = tokens[s:s+w] and
    scores targets at positions s+1+first .. s+w. A stream (or a document longer than seq_len + 1) is covered
    by windows at strides of seq_len // 2, the last one aligned to the end, each scoring only new positions."""
    T = int(seq_len)
    if T < 1:
        raise DataError(f"seq_len must be >= 1, got {seq_len}")
    if len(tokens) < 2:
        raise DataError(f"a split needs at least 2 tokens to predict one, got {len(tokens)}; re-run prepare")
    if kind == "lines":
        seg_start, seg_end = doc_bounds(tokens, boundary_id)
    elif kind == "stream":
        seg_start, seg_end = np.array([0]), np.array([len(tokens) - 1])
    else:
        raise DataError(f"unknown corpus kind {kind!r}; use 'stream' or 'lines'")
    P = seg_end - seg_start  # predicted tokens per segment
    stride = max(T // 2, 1)
    K = np.where(P > T, -(-(P - T) // stride) + 1, 1)  # windows per segment: ceil((P - T) / stride) + 1
    seg = np.repeat(np.arange(len(P)), K)  # (R,) segment of each row
    k = np.arange(K.sum()) - np.repeat(np.cumsum(K) - K, K)  # (R,) window index within its segment
    last = np.maximum(P[seg] - T, 0)
    rel = np.minimum(k * stride, last)  # window start within the segment
    first = np.where(k == 0, 0, (k - 1) * stride + T - rel)  # previous window scored up to (k-1)*stride + T
    return seg_start[seg] + rel, np.minimum(P[seg], T), first


def eval_batches(
    tokens: np.ndarray, *, kind: str, boundary_id: int | None, seq_len: int, batch_size: int
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Deterministic (x, y) batches whose non-ignored targets are exactly tokens[1:], each once."""
    start, width, first = eval_plan(tokens, kind=kind, boundary_id=boundary_id, seq_len=seq_len)
    pad = boundary_id if kind == "lines" else 0
    for i in range(0, len(start), batch_size):
        sl = slice(i, i + batch_size)
        yield _gather(tokens, start[sl], width[sl], first[sl], pad=pad)


def window_plan(tokens: np.ndarray, *, kind: str, boundary_id: int | None, seq_len: int):
    """Rows (start, width) that cut each segment (a stream, or each document of a lines split) into windows of
    seq_len predictions that do not overlap and score every column: column c of a row predicts with exactly c + 1
    tokens of context. The position curve's plan (inference/positions.py); each target is scored once."""
    eval_plan(tokens, kind=kind, boundary_id=boundary_id, seq_len=seq_len)  # its checks: seq_len, length, kind
    if kind == "lines":
        seg_start, seg_end = doc_bounds(tokens, boundary_id)
    else:
        seg_start, seg_end = np.array([0]), np.array([len(tokens) - 1])
    T = int(seq_len)
    P = seg_end - seg_start  # predicted tokens per segment
    K = -(-P // T)  # windows per segment
    seg = np.repeat(np.arange(len(P)), K)
    k = np.arange(K.sum()) - np.repeat(np.cumsum(K) - K, K)  # (R,) window index within its segment
    return seg_start[seg] + k * T, np.minimum(P[seg] - k * T, T)


def window_batches(tokens: np.ndarray, *, kind: str, boundary_id: int | None, seq_len: int, batch_size: int):
    """(x, y, start) batches of `window_plan`'s rows: y scores every column of each row (IGNORE_INDEX pads)."""
    start, width = window_plan(tokens, kind=kind, boundary_id=boundary_id, seq_len=seq_len)
    pad = boundary_id if kind == "lines" else 0
    for i in range(0, len(start), batch_size):
        sl = slice(i, i + batch_size)
        x, y = _gather(tokens, start[sl], width[sl], np.zeros_like(width[sl]), pad=pad)
        yield x, y, start[sl]


def context_windows(idx: np.ndarray, n_ctx: int, pad_id: int, boundary_id: int | None = None) -> np.ndarray:
    """(B, T) ids -> (B, T, n_ctx): the n_ctx tokens ending at each position (inclusive), left-padded with pad_id;
    with boundary_id, tokens before the most recent boundary (at or before the position) are pad_id too."""
    idx = np.asarray(idx, dtype=np.int64)
    B, T = idx.shape
    padded = np.concatenate([np.full((B, max(n_ctx - 1, 0)), pad_id, dtype=np.int64), idx], axis=1)
    offsets = np.arange(T)[:, None] + np.arange(n_ctx)  # (T, n_ctx): window t covers padded[t..t+n_ctx-1]
    windows = padded[:, offsets]  # (B, T + n_ctx - 1) -> (B, T, n_ctx); cheaper than sliding_window_view
    if boundary_id is None:
        return windows
    lo = np.maximum.accumulate(np.where(idx == boundary_id, np.arange(T), 0), axis=1)  # (B, T) earliest visible
    src = offsets - n_ctx + 1  # (T, n_ctx): the column of idx each slot reads
    return np.where(src[None] >= lo[:, :, None], windows, pad_id)  # (B, T, n_ctx)


def contexts(tokens: np.ndarray, n_ctx: int, pad_id: int, boundary_id: int | None = None):
    """For every target position i in 1..N-1: (ctx (N-1, n_ctx) = the n_ctx tokens before i, targets (N-1,))."""
    tokens = np.asarray(tokens, dtype=np.int64)
    ctx = context_windows(tokens[None, :-1], n_ctx, pad_id, boundary_id)[0]
    return ctx, tokens[1:]
