"""Training batches from a prepared split: random windows (stream) or random documents (lines)."""

from __future__ import annotations

import numpy as np

from ..data.batching import doc_bounds, sample_docs, sample_windows
from ..data.prepared import Prepared


class Batcher:
    def __init__(self, data: Prepared, split: str, batch_size: int, block_size: int):
        if split not in data.splits:
            raise ValueError(f"split '{split}' not in the prepared data ({sorted(data.splits)}); re-run prepare")
        self.tokens = data.splits[split]
        self.kind, self.batch_size, self.block_size = data.kind, batch_size, block_size
        self.bounds = doc_bounds(self.tokens, data.boundary_id) if data.kind == "lines" else None

    def sample(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        if self.kind == "lines":
            return sample_docs(self.tokens, self.bounds, self.batch_size, self.block_size, rng)
        return sample_windows(self.tokens, self.batch_size, self.block_size, rng)
