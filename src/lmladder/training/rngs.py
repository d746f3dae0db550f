"""A run's random streams: one Generator per use, all spawned from the run's one seed."""

from __future__ import annotations

import numpy as np

RNG_NAMES = ("model", "batch", "eval", "sample")


class Rngs(dict[str, np.random.Generator]):
    """A run's Generators by name (RNG_NAMES) and the `seed` they come from (make_rngs)."""

    seed: int


def make_rngs(seed: int) -> Rngs:
    """Independent generators for init+dropout, batches, evaluation batches and sampling, all from one seed, which
    they carry: a resume checks it against the checkpoint's, and MPI ranks > 0 draw their dropout from it."""
    children = np.random.SeedSequence(seed).spawn(len(RNG_NAMES))
    rngs = Rngs({name: np.random.default_rng(s) for name, s in zip(RNG_NAMES, children, strict=True)})
    rngs.seed = seed
    return rngs


def epoch_rng(seed: int, epoch: int) -> np.random.Generator:
    """The Generator of one epoch's order (train.sampling=epochs): keyed by the seed and the epoch alone, apart
    from every stream of make_rngs (their spawn keys are 0 .. len(RNG_NAMES) - 1)."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(len(RNG_NAMES), epoch)))


def noise_rng(seed: int, index: int) -> np.random.Generator:
    """The Generator of training batch `index`'s input noise (train.input_noise): keyed by the seed and the batch
    alone, apart from every other stream (make_rngs's, epoch_rng's)."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(len(RNG_NAMES) + 1, index)))
