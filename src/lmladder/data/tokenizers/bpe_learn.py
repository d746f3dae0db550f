"""Learning byte-level BPE merges (bpe.py's `BPETokenizer.train`): the most frequent adjacent pair of ids becomes a
new id, again and again, with pair counts kept up to date incrementally instead of recounted after every merge."""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Sequence

Pair = tuple[int, int]


def learn_merges(chunks: Sequence[bytes], weights: Sequence[int], n_merges: int) -> tuple[list, list[list[int]]]:
    """Up to n_merges merges learned from unique chunks (chunk k occurs weights[k] times), and each chunk's final ids.

    All chunks' bytes sit in one doubly linked list (`Links`), every position weighted by its chunk's count. A pair's
    count is how many adjacent positions hold it (overlaps included: "aaa" has (a, a) twice), kept incrementally: a
    merge rewrites only its occurrences and their neighbours' pairs, so a step costs what it changes instead of a
    recount. A heap of (-count, a, b) picks the next pair; entries whose count has since changed are skipped when
    they surface (lazy invalidation). Stops early when no pair occurs twice.
    """
    links = Links(chunks, weights)
    counts, where = links.pairs()
    heap = [(-c, a, b) for (a, b), c in counts.items()]
    heapq.heapify(heap)
    merges: list[Pair] = []
    while len(merges) < n_merges:
        while heap and counts.get((heap[0][1], heap[0][2])) != -heap[0][0]:
            heapq.heappop(heap)
        if not heap or -heap[0][0] < 2:
            break
        _, a, b = heapq.heappop(heap)
        new = 256 + len(merges)
        merges.append((a, b))
        touched = links.merge((a, b), new, counts, where)
        del counts[a, b]  # no occurrence is left, and none can form again: new pairs all contain the new id
        for pair in touched:
            if counts.get(pair, 0) > 0:
                heapq.heappush(heap, (-counts[pair], *pair))
    return merges, links.ids()


class Links:
    """Every chunk's ids in one doubly linked list: tok[i] the id at position i, nxt[i] and prv[i] its neighbours
    (-1 at a chunk's ends), wt[i] its chunk's count; starts[k] is chunk k's first position."""

    def __init__(self, chunks: Sequence[bytes], weights: Sequence[int]):
        self.tok: list[int] = []
        self.nxt: list[int] = []
        self.prv: list[int] = []
        self.wt: list[int] = []
        self.starts: list[int] = []
        for chunk, w in zip(chunks, weights, strict=True):
            s, n = len(self.tok), len(chunk)
            self.starts.append(s)
            self.tok.extend(chunk)
            self.nxt.extend([*range(s + 1, s + n), -1])
            self.prv.extend([-1, *range(s, s + n - 1)])
            self.wt.extend([w] * n)

    def pairs(self) -> tuple[defaultdict[Pair, int], defaultdict[Pair, list[int]]]:
        """Each adjacent pair's weighted count, and the left positions where it occurs."""
        tok, wt = self.tok, self.wt
        counts: defaultdict[Pair, int] = defaultdict(int)
        where: defaultdict[Pair, list[int]] = defaultdict(list)  # pair -> left positions (some stale later)
        for i, j in enumerate(self.nxt):
            if j >= 0:
                counts[tok[i], tok[j]] += wt[i]
                where[tok[i], tok[j]].append(i)
        return counts, where

    def merge(self, pair: Pair, new: int, counts: dict[Pair, int], where: dict[Pair, list[int]]) -> set[Pair]:
        """Every occurrence of `pair` made one position holding `new`, left to right, with the counts and positions
        of the neighbours' pairs updated; returns the pairs whose count changed."""
        tok, nxt, prv, wt = self.tok, self.nxt, self.prv, self.wt
        a, b = pair
        touched = set()
        for i in sorted(set(where.pop(pair))):  # ascending = left to right in every chunk, as encode merges
            j = nxt[i]
            if tok[i] != a or j < 0 or tok[j] != b:
                continue  # stale, or consumed by the previous occurrence of an (a, a) run
            w, p, n = wt[i], prv[i], nxt[j]
            if p >= 0:
                left = tok[p]
                counts[left, a] -= w
                counts[left, new] += w
                where[left, new].append(p)
                touched.update(((left, a), (left, new)))
            if n >= 0:
                right = tok[n]
                counts[b, right] -= w
                counts[new, right] += w
                where[new, right].append(i)
                touched.update(((b, right), (new, right)))
            tok[i], tok[j], nxt[i] = new, -1, n
            if n >= 0:
                prv[n] = i
        return touched

    def ids(self) -> list[list[int]]:
        """Each chunk's ids now (a merge keeps its left position, so a chunk still starts where it did)."""
        finals = []
        for i in self.starts:
            ids = []
            while i >= 0:
                ids.append(self.tok[i])
                i = self.nxt[i]
            finals.append(ids)
        return finals
