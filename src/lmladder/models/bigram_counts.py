"""Sparse n-gram counts for models/bigram.py: a trie by levels in sorted int64 arrays, and the interpolated
(modified) Kneser-Ney tables built from it (Chen & Goodman, An Empirical Study of Smoothing Techniques for
Language Modeling, TR-10-98, 1998, section 3).

Memory grows with the distinct n-grams seen, never with V ** order. Two kinds of sorted key arrays:

- context level j (1 <= j < order): the distinct j-token contexts, keys `parent * V + token`, where `token` is the
  j-th most recent token and `parent` the id (position) of the other j - 1 at level j - 1. Contexts are stored most
  recent token first, so a context's parent is its own shorter suffix: exactly the context a lower order backs off
  to. Level 0 is the empty context, id 0.
- n-gram level m: the distinct (context of m - 1 tokens, target) pairs, keys `context id * V + target`.

Ids are positions in those arrays, so a key is below (#distinct n-grams) * V: no overflow for any V or order. Lookups
are `np.searchsorted`; the children of a context are one contiguous run of its level's keys.
"""

from __future__ import annotations

import numpy as np

from ..nn.module import StateDictError

# KenLM's --discount_fallback values (D1, D2, D3+), for count-of-counts that cannot give valid estimates
FALLBACK_DISCOUNTS = (0.5, 1.0, 1.5)


def count(ctx: np.ndarray, tgt: np.ndarray, V: int) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """(context levels 1..order-1, n-gram keys, their counts) of the rows ctx (N, order-1), tgt (N,)."""
    ids = np.zeros(len(tgt), dtype=np.int64)  # each row's context id at the current level (level 0: the root)
    levels = []
    for j in range(1, ctx.shape[1] + 1):
        level, ids = np.unique(ids * V + ctx[:, -j], return_inverse=True)  # the j most recent tokens
        levels.append(level)
    keys, counts = np.unique(ids * V + tgt, return_counts=True)
    return levels, keys, counts.astype(np.int64)


def lookup(levels: list[np.ndarray], ctx: np.ndarray, V: int) -> np.ndarray:
    """(R, order-1) contexts -> (R, order) ids: column j is the id of the row's j most recent tokens at context
    level j, or -1 when that context was never seen (and then every longer one is -1 too)."""
    ids = np.full((len(ctx), len(levels) + 1), -1, dtype=np.int64)
    ids[:, 0] = 0
    for j, level in enumerate(levels, start=1):
        key = ids[:, j - 1] * V + ctx[:, -j]
        pos = np.minimum(np.searchsorted(level, key), max(len(level) - 1, 0))
        hit = (ids[:, j - 1] >= 0) & (level[pos] == key) if len(level) else np.zeros(len(ctx), dtype=bool)
        ids[:, j] = np.where(hit, pos, -1)
    return ids


def child_runs(keys: np.ndarray, V: int, n_contexts: int) -> np.ndarray:
    """(n_contexts + 1,) offsets: the n-grams of context c are keys[runs[c]:runs[c + 1]]."""
    return np.searchsorted(keys // V, np.arange(n_contexts + 1))


def scatter_index(runs: np.ndarray, ctx_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(row, position) of every n-gram under each row's context: row i of ctx_ids (all seen, >= 0) owns
    positions runs[c]..runs[c+1]-1. Vectorised: one repeat instead of a loop over rows."""
    lo, hi = runs[ctx_ids], runs[ctx_ids + 1]
    n = hi - lo
    rows = np.repeat(np.arange(len(ctx_ids)), n)
    pos = np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n) + np.repeat(lo, n)
    return rows, pos


def continuation_levels(levels, keys, counts, V: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """[(keys, counts) of n-gram level m for m = 1..order]: the top level's raw counts, and below it Kneser-Ney's
    continuation counts N1+(. w2..wm) = the number of distinct one-token-longer n-grams ending in w2..wm. Every
    context is left-padded to full length, so every lower-order n-gram has a left extension: no <s> special case."""
    out = [(keys, counts)]
    for m in range(len(levels), 0, -1):  # level m from level m + 1, whose contexts live at context level m
        upper = out[0][0]
        suffix = (levels[m - 1][upper // V] // V) * V + upper % V  # drop the oldest context token
        out.insert(0, tuple(np.unique(suffix, return_counts=True)))
    return out


def discounts(counts: np.ndarray, fixed: float | None, fallback=FALLBACK_DISCOUNTS) -> tuple[float, float, float]:
    """(D1, D2, D3+) of one level: `fixed` for all three (plain interpolated KN), or Chen & Goodman's estimates
    from the count-of-counts n1..n4. When some n_i is 0 or an estimate falls outside (0, i), the estimate is
    meaningless and `fallback` is used: the caller passes the order below's discounts. That matters at high orders,
    where nearly every n-gram is seen once (n3 or n4 = 0): the discounts climb towards 1 with the order, and
    KenLM's fixed fallback (0.5, 1, 1.5) would trust a context seen once twice as much as the order below did, which
    made Kneser-Ney at orders 12-16 on names worse than a bigram."""
    if fixed is not None:
        return (float(fixed),) * 3
    n1, n2, n3, n4 = (int(np.count_nonzero(counts == i)) for i in (1, 2, 3, 4))
    if min(n1, n2, n3, n4) == 0:
        return fallback
    y = n1 / (n1 + 2 * n2)
    d = (1 - 2 * y * n2 / n1, 2 - 3 * y * n3 / n2, 3 - 4 * y * n4 / n3)
    return d if all(0 < di < i for i, di in enumerate(d, start=1)) else fallback


def kn_level(keys, counts, V: int, n_contexts: int, d: tuple[float, float, float]):
    """One level's tables: (runs, targets, discounted counts c - D(c)) of its n-grams, and per context the total
    c(ctx) and the interpolation weight's numerator D1 N1(ctx.) + D2 N2(ctx.) + D3+ N3+(ctx.)."""
    disc = np.asarray(d)[np.minimum(counts, 3) - 1]  # D(c) of every n-gram; D < c, so c - D > 0 needs no max
    parent = keys // V
    total = np.bincount(parent, weights=counts, minlength=n_contexts)
    gamma_num = np.bincount(parent, weights=disc, minlength=n_contexts)
    return child_runs(keys, V, n_contexts), keys % V, counts - disc, total, gamma_num


def check_arrays(levels: list[np.ndarray], keys: np.ndarray, counts: np.ndarray, V: int) -> None:
    """Refuse arrays no fit could have written (a tampered or mixed-up checkpoint), with one line naming them."""
    named = [(f"context{j}", a) for j, a in enumerate(levels, start=1)] + [("ngrams", keys)]
    for name, a in [*named, ("counts", counts)]:
        if a.ndim != 1 or a.dtype != np.int64:
            raise StateDictError(f"NGram.load_state_dict: {name} must be 1-D int64, got {a.dtype} {a.shape}")
    if len(counts) != len(keys):
        raise StateDictError(f"NGram.load_state_dict: {len(counts)} counts for {len(keys)} ngrams; they pair up")
    if not len(keys) and not any(len(a) for a in levels):
        return  # an unfitted model
    if counts.min(initial=1) < 1:
        raise StateDictError("NGram.load_state_dict: counts must be >= 1 (only n-grams seen are stored)")
    n_parents = 1  # the root
    for name, a in named:
        if len(a) and (a[0] < 0 or (np.diff(a) <= 0).any()):
            raise StateDictError(f"NGram.load_state_dict: {name} is not strictly increasing from >= 0")
        if len(a) and a[-1] // V >= n_parents:
            raise StateDictError(f"NGram.load_state_dict: {name} points at context {a[-1] // V} of {n_parents}")
        if len(np.unique(a // V)) != n_parents:  # every context a fit stores has a continuation
            raise StateDictError(f"NGram.load_state_dict: {name} leaves contexts of the level below unused")
        n_parents = len(a)
