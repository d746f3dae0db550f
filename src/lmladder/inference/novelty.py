"""Is a sample of a lines corpus (one document per line: names) new, or a copy of a training document? makemore
labels each sample "in train", "in test" or "new"; here each gets the first split that holds it, in the order
train, val, test, else "new". Documents are compared as decoded strings, not as ids: a sampled BPE name may spell a
training name with other tokens, and it is still that name."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..data.prepared import Prepared
from ..data.splits import SPLIT_NAMES

NEW = "new"


def split_documents(data: Prepared) -> dict[str, set[str]]:
    """{split: the set of its documents as text} for a lines corpus ([B, doc1, B, doc2, ..., B] per split)."""
    if data.kind != "lines":
        raise ValueError(f"split_documents needs a lines corpus (one document per line), not kind={data.kind!r}")
    out = {}
    for name in SPLIT_NAMES:
        if name in data.splits:
            ids = np.asarray(data.splits[name])
            cuts = np.flatnonzero(ids == data.boundary_id)
            out[name] = set(data.tokenizer.decode_documents(ids, cuts))
    return out


def label(sample: str, documents: dict[str, set[str]]) -> str:
    """The first split (train, val, test) whose documents include `sample`, else "new"."""
    return next((name for name, docs in documents.items() if sample in docs), NEW)


def novelty(labels: Sequence[str], splits: Sequence[str]) -> dict:
    """Counts per label (every split of `splits` and "new", zeros included) and the fraction that is new (None
    for no samples: JSON has no NaN)."""
    counts = {name: sum(1 for x in labels if x == name) for name in [*splits, NEW]}
    return {"n": len(labels), **counts, "novelty": counts[NEW] / len(labels) if labels else None}


def label_samples(samples: list[str], data: Prepared) -> tuple[list[str], dict]:
    """Each sample's label and their counts with the novelty rate (metrics.json's `samples`)."""
    docs = split_documents(data)
    labels = [label(s, docs) for s in samples]
    return labels, novelty(labels, list(docs))
