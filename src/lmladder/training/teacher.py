"""A count-model teacher (train.teacher: its order n and weight w): the network trains on

    (1 - w) * CE(its logits, the next token) + w * CE(its logits, an n-gram model's next-token distribution)

so the count rung's knowledge enters training while the trained network is scored alone. The n-gram model is
interpolated absolute discounting over orders 1..n of the train split's counts, with the position being trained on
left out of them (leave-one-out): for a training position the teacher says what the counts predict as if that
position had never been seen, which is what they predict on val (with its own counts in, an n-gram model trained
on the split would mostly repeat the target). Each order's discount is n1 / (n1 + 2 n2) of its counts, the
leave-one-out estimate of Ney et al. (1994). A batch's contexts are read from its own rows, so a row's first
positions get the lower orders their few tokens allow. Dense count tables: character vocabularies (<= 1024)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..autograd import functional as F
from ..autograd.engine import Tensor
from ..data.errors import DataError
from ..resources import available_bytes, check_fits
from ..rules import SettingsError, check_fields, check_used, integer, number

MAX_VOCAB = 1024  # a context's counts are a dense row of vocab_size entries
MAX_ORDER = 10


@dataclass
class TeacherSettings:
    """The n-gram teacher (train.teacher): its order n (0: no teacher) and the weight w of its cross-entropy."""

    order: int = integer(0, low=0, high=MAX_ORDER, note="0 turns it off")
    weight: float = number(0.1, above=0, below=1)

    used_by: ClassVar[dict[str, range]] = {"weight": range(1, MAX_ORDER + 1)}

    def check(self) -> None:
        check_fields(self, SettingsError)
        check_used(self, "order", self.used_by, SettingsError)


@dataclass
class _Order:
    """The counts of one order: contexts of k - 1 tokens as base-V codes, sorted, with their next-token counts."""

    keys: np.ndarray  # (n_ctx,) int64, sorted
    counts: np.ndarray  # (n_ctx, V) int32
    totals: np.ndarray  # (n_ctx,) int64: the context's occurrences
    distinct: np.ndarray  # (n_ctx,) int64: the next tokens seen after it
    discount: float


def _order(tokens: np.ndarray, k: int, V: int) -> _Order:
    n = len(tokens) - (k - 1)  # positions with k - 1 tokens before them
    codes = np.zeros(n, dtype=np.int64)
    for j in range(k - 1):  # the token j + 1 places back has weight V**j
        codes += tokens[k - 2 - j : k - 2 - j + n] * V**j
    keys, inv = np.unique(codes, return_inverse=True)
    flat = np.bincount(inv * V + tokens[k - 1 :], minlength=len(keys) * V)
    counts = flat.reshape(len(keys), V)
    n1, n2 = np.count_nonzero(counts == 1), np.count_nonzero(counts == 2)
    discount = n1 / (n1 + 2 * n2) if n1 + n2 else 0.5
    totals, distinct = counts.sum(axis=1), np.count_nonzero(counts, axis=1)
    return _Order(keys, counts.astype(np.int32), totals, distinct, float(min(max(discount, 0.05), 0.95)))


def _check_memory(tokens: np.ndarray, V: int, order: int) -> None:
    """Refuse an order whose dense tables would not fit in memory, naming the longest that would, before building:
    the tables take 4 V bytes per distinct context of each order and per distinct n-gram of the top one, working
    out the top table about five times its size again, and counting the n-grams some 48 bytes per token (measured:
    order 5 of 300 kB of bytes, 385 MiB; of 60 kB of names, 20 MiB)."""
    per_token = 48 * len(tokens)  # each order's codes, np.unique's sorted copy and inverse
    check_fits(per_token, f"counting the n-grams of teacher.order={order} in {len(tokens):,} train tokens",
               "use teacher.order=0 on a split this large, or free memory")  # fmt: skip
    distinct, codes = [1], tokens  # distinct k-grams of the split, k = 0, 1, ...: order k's contexts are (k-1)-grams
    for k in range(1, order + 1):
        if k > 1:
            codes = codes[:-1] * V + tokens[k - 1 :]  # each position's k-gram as a base-V code
        distinct.append(len(np.unique(codes)))
    need = [4 * V * (sum(distinct[:k]) + 6 * distinct[k]) + per_token for k in range(order + 1)]
    fits = max((k for k in range(order + 1) if need[k] <= available_bytes()), default=0)
    what = f"teacher.order={order} ({distinct[order]:,} distinct {order}-grams in train, {V:,} counts each)"
    check_fits(
        need[order], what, f"{f'teacher.order={fits} fits' if fits else 'no order fits'}; lower it, or free memory"
    )


class NgramTeacher:
    """The leave-one-out n-gram distribution of a training batch's positions, and the loss mixed with it.

    A position's distribution depends only on its n - 1 tokens of context and, through leave-one-out, its target:
    the n-gram it ends. So it is worked out once per distinct n-gram of the train split (`table`) and looked up;
    a row's first positions (shorter contexts) and n-grams the split lacks are worked out as they come."""

    def __init__(self, tokens: np.ndarray, vocab_size: int, settings: TeacherSettings):
        V, order = vocab_size, settings.order
        if V > MAX_VOCAB:
            raise DataError(
                f"teacher.order={order} keeps a dense row of counts per context, for vocabularies of <= {MAX_VOCAB:,} "
                f"tokens, and this one has {V:,}; use a character tokenizer, or teacher.order=0"
            )
        if V**order >= 2**62:
            longest = int(61.999 // np.log2(V))  # a context's code, V**order, must fit an int64
            raise DataError(
                f"teacher.order={order} is too long for {V:,} tokens (its n-grams' codes would overflow 64 bits); "
                f"the longest is teacher.order={longest}"
            )
        tokens = np.asarray(tokens, dtype=np.int64)
        if len(tokens) <= order:
            raise DataError(f"teacher.order={order} needs a train split longer than {order} tokens; lower it")
        _check_memory(tokens, V, order)
        self.V, self.n, self.weight = V, order, settings.weight
        self.orders = [_order(tokens, k, V) for k in range(1, order + 1)]
        top = self.orders[-1]
        ctx, nxt = np.nonzero(top.counts)  # every n-gram of the split: (context row, next token)
        self.keys = top.keys[ctx] * V + nxt  # sorted: contexts sorted, then tokens
        self.table = self.distribution(top.keys[ctx], np.full(len(ctx), order - 1), nxt)  # (n-grams, V)

    def describe(self) -> str:
        mb = (self.table.nbytes + sum(o.counts.nbytes for o in self.orders)) / 2**20
        discounts = ", ".join(f"{o.discount:.2f}" for o in self.orders)
        return (
            f"n-gram teacher: order {self.n}, weight {self.weight}, {len(self.keys):,} distinct {self.n}-grams in "
            f"train, discounts {discounts} ({mb:.0f} MiB)"
        )

    def __call__(self, x: np.ndarray, y: np.ndarray, leave_out: bool = True) -> np.ndarray:
        """(B, T, V) float32: the teacher's distribution of each target y given the tokens of x up to its position,
        with that (context, y) occurrence taken out of every order's counts (leave_out=False: a split the counts
        never saw, such as val); rows of ignored targets (y < 0) are 0."""
        B, T = x.shape
        V, n = self.V, self.n
        ctx = np.zeros((B, T), dtype=np.int64)  # the base-V code of up to n - 1 tokens before each target
        for j in range(n - 1):  # the token j + 1 places back, where the row has one
            ctx[:, j:] += x[:, : T - j] * V**j
        have = np.minimum(np.arange(T), n - 2) + 1  # (T,) context tokens each position has
        ctx, length = ctx.reshape(-1), np.broadcast_to(have, (B, T)).reshape(-1)
        target = np.maximum(y.reshape(-1), 0)
        p = np.empty((B * T, V), dtype=np.float32)
        code = ctx * V + target
        at = np.minimum(np.searchsorted(self.keys, code), len(self.keys) - 1)
        hit = (length == n - 1) & (self.keys[at] == code) & leave_out
        p[hit] = self.table[at[hit]]
        rest = ~hit
        p[rest] = self.distribution(ctx[rest], length[rest], target[rest], leave_out)
        p[y.reshape(-1) < 0] = 0
        return p.reshape(B, T, V)

    def distribution(self, ctx, length, target, leave_out: bool = True) -> np.ndarray:
        """(N, V): the interpolated distribution after contexts `ctx` (base-V codes of `length` tokens each, the
        nearest token weighted 1), with (context, target) left out of the counts of every order."""
        p = np.full((len(ctx), self.V), 1 / self.V, dtype=np.float32)  # order 0: uniform
        for k, o in enumerate(self.orders, start=1):
            code = ctx % self.V ** (k - 1)  # the last k - 1 tokens
            p = self._mix(o, code, p, target, length >= k - 1, leave_out)
        return p

    @staticmethod
    def _mix(o: _Order, codes, lower, target, has_ctx, leave_out):
        """This order's discounted (leave-one-out) counts, interpolated with the orders below (`lower`)."""
        at = np.minimum(np.searchsorted(o.keys, codes), len(o.keys) - 1)
        seen = has_ctx & (o.keys[at] == codes)
        i, n = at[seen], np.count_nonzero(seen)
        c = o.counts[i].astype(np.float32)  # (n, V)
        t = target[seen]
        # left out where the split has it (a noised context may not be followed by the target anywhere)
        mine = c[np.arange(n), t]
        out = (mine >= 1) & leave_out
        ones = out & (mine == 1)  # its only occurrence: leaving it out removes a distinct next token
        c[np.arange(n), t] -= out
        total = (o.totals[i] - out).astype(np.float32)
        distinct = (o.distinct[i] - ones).astype(np.float32)
        left = total > 0  # else the context was seen only here: this order knows nothing of it
        D = np.float32(o.discount)
        mixed = (np.maximum(c - D, 0) + (D * distinct)[:, None] * lower[seen]) / np.maximum(total, 1)[:, None]
        p = lower.copy()
        p[np.flatnonzero(seen)[left]] = mixed[left]
        return p

    def loss(self, logits: Tensor, x: np.ndarray, y: np.ndarray, own: Tensor) -> Tensor:
        """(1 - w) * own + w * the mean cross-entropy of logits (B, T, V) against the teacher's distributions."""
        if logits.shape[:-1] != y.shape:
            raise DataError(
                f"teacher.order={self.n} needs a logit per target (got {logits.shape} for targets {y.shape}); "
                "use it with targets=all"
            )
        q = self(x, y)  # (B, T, V)
        n = max(int(np.count_nonzero(y >= 0)), 1)
        soft = -(F.log_softmax(logits) * q).sum() * (1 / n)
        return own * (1 - self.weight) + soft * self.weight
