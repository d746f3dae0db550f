"""Learning byte-level BPE merges (bpe.py's `BPETokenizer.train`): the most frequent adjacent pair of ids becomes a
new id, again and again, with pair counts kept up to date incrementally instead of recounted after every merge."""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Sequence


def learn_merges(chunks: Sequence[bytes], weights: Sequence[int], n_merges: int) -> tuple[list, list[list[int]]]:
    """Up to n_merges merges learned from unique chunks (chunk k occurs weights[k] times), and each chunk's final ids.

    All chunks' bytes sit in one doubly linked list (nxt/prv, -1 at a chunk's ends), every position weighted by its
    chunk's count. A pair's count is how many adjacent positions hold it (overlaps included: "aaa" has (a, a) twice),
    kept incrementally: a merge rewrites only its occurrences and their neighbours' pairs, so a step costs what it
    changes instead of a recount. A heap of (-count, a, b) picks the next pair; entries whose count has since
    changed are skipped when they surface (lazy invalidation). Stops early when no pair occurs twice.
    """
    tok: list[int] = []
    nxt: list[int] = []
    prv: list[int] = []
    wt: list[int] = []
    starts: list[int] = []
    for chunk, w in zip(chunks, weights, strict=True):
        s, n = len(tok), len(chunk)
        starts.append(s)
        tok.extend(chunk)
        nxt.extend([*range(s + 1, s + n), -1])
        prv.extend([-1, *range(s, s + n - 1)])
        wt.extend([w] * n)
    counts: defaultdict[tuple[int, int], int] = defaultdict(int)
    where: defaultdict[tuple[int, int], list[int]] = defaultdict(list)  # pair -> left positions (some stale)
    for i, j in enumerate(nxt):
        if j >= 0:
            counts[tok[i], tok[j]] += wt[i]
            where[tok[i], tok[j]].append(i)
    heap = [(-c, a, b) for (a, b), c in counts.items()]
    heapq.heapify(heap)
    merges: list[tuple[int, int]] = []
    while len(merges) < n_merges:
        while heap and counts.get((heap[0][1], heap[0][2])) != -heap[0][0]:
            heapq.heappop(heap)
        if not heap or -heap[0][0] < 2:
            break
        _, a, b = heapq.heappop(heap)
        new = 256 + len(merges)
        merges.append((a, b))
        touched = set()
        for i in sorted(set(where.pop((a, b)))):  # ascending = left to right in every chunk, as encode merges
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
        del counts[a, b]  # no occurrence is left, and none can form again: new pairs all contain `new`
        for pair in touched:
            if counts.get(pair, 0) > 0:
                heapq.heappush(heap, (-counts[pair], *pair))
    finals = []
    for i in starts:  # a merge keeps its left position, so a chunk still starts where it did
        ids = []
        while i >= 0:
            ids.append(tok[i])
            i = nxt[i]
        finals.append(ids)
    return merges, finals
