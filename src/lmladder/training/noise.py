"""Input noising (Xie et al., 2017, "Data Noising as Smoothing in Neural Network Language Models"): each input token
of a training row is replaced, with probability p, by a token drawn from the train split's unigram distribution.
The targets stay, so the model learns to predict the next token from a context with a few wrong tokens in it: a
smoothing of the contexts it sees, as an n-gram model smooths its counts. Evaluation and sampling never see it."""

from __future__ import annotations

import numpy as np

from ..data.errors import DataError
from .rngs import noise_rng

CHUNK = 1 << 24  # tokens counted at a time: a memory-mapped split is never read whole


def unigram(tokens: np.ndarray, vocab_size: int, skip: int | None = None) -> np.ndarray:
    """The split's token frequencies, (vocab_size,) float64 summing to 1; `skip` (a lines corpus's boundary id,
    which is never drawn) counts 0."""
    counts = np.zeros(vocab_size, dtype=np.int64)
    for i in range(0, len(tokens), CHUNK):
        counts += np.bincount(np.asarray(tokens[i : i + CHUNK], dtype=np.int64), minlength=vocab_size)
    if skip is not None:
        counts[skip] = 0
    if not counts.any():
        raise DataError("train.input_noise draws from the train split's tokens and it has none; set input_noise=0")
    return counts / counts.sum()


class InputNoise:
    """Replaces each input token of a batch with probability p by a unigram draw (train.input_noise); a lines
    corpus's boundary tokens (each document's start, and the padding) are kept. The draws of batch k come from a
    Generator keyed by the seed and k alone (rngs.noise_rng), so a resumed run and every MPI rank draw the same."""

    def __init__(self, tokens: np.ndarray, vocab_size: int, p: float, seed: int, boundary_id: int | None = None):
        self.p, self.seed, self.boundary = p, seed, boundary_id
        self.probs = unigram(tokens, vocab_size, boundary_id)

    def __call__(self, x: np.ndarray, index: int) -> np.ndarray:
        rng = noise_rng(self.seed, index)
        hit = rng.random(x.shape) < self.p  # (B, T)
        if self.boundary is not None:
            hit &= x != self.boundary
        out = x.copy()
        out[hit] = rng.choice(len(self.probs), size=int(hit.sum()), p=self.probs)
        return out
