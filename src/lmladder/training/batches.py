"""Training batches from a prepared split: random windows (stream) or random documents (lines), every position a
target; or, with last=True, random single targets with the tokens before them (Zero-to-Hero's batches); or every
window or document once per epoch (EpochBatches). And nanoGPT's estimate of the loss over some of them, the
evaluation during training."""

from __future__ import annotations

import numpy as np

from ..autograd import no_grad
from ..data.batching import doc_bounds, docs_at, sample_docs, sample_last, sample_windows, windows_at
from ..data.errors import DataError
from ..data.prepared import Prepared
from ..models.base import LanguageModel
from ..parallel import World
from .rngs import epoch_rng

REMAP_FROM = 1 << 26  # bytes of a split (64 MiB) from which each batch maps it afresh


class Batcher:
    """Random training batches of one split: `batch_size` rows of `seq_len` tokens (a lines corpus's rows end with
    their document). `key`: the setting that set seq_len (settings.seq_len_key), which a too-short split names."""

    def __init__(self, data: Prepared, split: str, batch_size: int, seq_len: int, last: bool = False, key="seq_len"):
        if split not in data.splits:
            raise DataError(f"split '{split}' not in the prepared data ({sorted(data.splits)}); re-run prepare")
        self.tokens = data.splits[split]
        self.kind, self.batch_size, self.seq_len, self.last = data.kind, batch_size, seq_len, last
        n = len(self.tokens)
        if data.kind == "stream" and n < seq_len + 1:  # fail before training, not at the first eval
            fix = f"set {key} <= {n - 1}, or use" if n > 1 else "use"
            raise DataError(
                f"the {split} split has {n} tokens, too short for {key}={seq_len} (a window needs one "
                f"token more); {fix} a larger corpus or a larger {split} share in fractions="
            )
        self.bounds = doc_bounds(self.tokens, data.boundary_id) if data.kind == "lines" else None

    def sample(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        tokens = _remapped(self.tokens)
        if self.last:
            starts = None if self.bounds is None else self.bounds[0]
            pad = 0 if self.bounds is None else int(tokens[0])  # a lines split starts with its boundary
            return sample_last(tokens, starts, self.batch_size, self.seq_len, pad, rng)
        if self.kind == "lines":
            return sample_docs(tokens, self.bounds, self.batch_size, self.seq_len, rng)
        return sample_windows(tokens, self.batch_size, self.seq_len, rng)


class EpochBatches:
    """A Batcher's rows taken so that each epoch holds every item of the split once, in a fresh order
    (train.sampling=epochs): the windows of a stream split, cut every seq_len tokens from a random offset, or the
    documents of a lines split (one longer than seq_len + 1 cropped at a random place). Row r of the run's batch k
    is item k * batch_size + r of the epochs laid end to end. Each epoch's order comes from its own Generator,
    keyed by the run's seed and the epoch (rngs.epoch_rng), so batch k is a function of k alone: a resumed run and
    every MPI rank get the same one with no saved state."""

    def __init__(self, batcher: Batcher, seed: int):
        self.b, self.seed, self.cached = batcher, seed, {}
        n, T = len(batcher.tokens), batcher.seq_len
        if batcher.kind == "lines":
            starts, ends = batcher.bounds
            self.per_epoch, self.spare = len(starts), np.maximum(ends - starts + 1 - (T + 1), 0)  # crop room
        else:  # every window of an epoch fits whatever its offset in [0, max_off]
            self.max_off = min(T - 1, n - 1 - T)
            self.per_epoch = (n - 1 - T - self.max_off) // T + 1

    def batch(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        b = self.b
        epoch, j = np.divmod(index * b.batch_size + np.arange(b.batch_size), self.per_epoch)  # (B,) each
        items, crop = np.empty_like(j), np.empty_like(j)
        for e in np.unique(epoch):
            rows = epoch == e
            items[rows], crop[rows] = (part[j[rows]] for part in self._epoch(int(e)))
        tokens = _remapped(b.tokens)
        if b.kind == "lines":
            return docs_at(tokens, b.bounds, items, crop, b.seq_len)
        return windows_at(tokens, items, b.seq_len)

    def _epoch(self, e: int) -> tuple[np.ndarray, np.ndarray]:
        """Epoch e's items in order: (document ids, their crop offsets) or (window starts, zeros): 8 or 16 bytes
        an item (a 2 GB stream split of 64-token windows: 250 MB)."""
        if e not in self.cached:
            rng = epoch_rng(self.seed, e)
            order = rng.permutation(self.per_epoch)
            if self.b.kind == "lines":
                plan = order, rng.integers(0, self.spare[order] + 1)
            else:
                plan = int(rng.integers(0, self.max_off + 1)) + self.b.seq_len * order, np.broadcast_to(0, order.shape)
            # kept: this epoch and the one before, which a batch may straddle
            self.cached = {k: v for k, v in self.cached.items() if k == e - 1} | {e: plan}
        return self.cached[e]


def _remapped(tokens: np.ndarray) -> np.ndarray:
    """A large memory-mapped split mapped afresh for one batch: the kernel maps whole cached blocks of the file
    (up to MBs) at each touched page, and a long-lived map keeps them all resident (20 random batches of a 2 GB
    split left 1.3 GB in RSS); dropping the map with the batch keeps RSS flat, as nanoGPT's memmap per batch."""
    if not isinstance(tokens, np.memmap) or tokens.nbytes < REMAP_FROM:
        return tokens
    return np.memmap(tokens.filename, dtype=tokens.dtype, mode="r", offset=tokens.offset, shape=tokens.shape)


def estimate_loss(model: LanguageModel, batches, last_only: bool = False, world: World | None = None) -> float:
    """nanoGPT's estimator: the mean of per-batch mean losses over the given (x, y) batches, dropout off
    (last_only: y is (B, 1), the target after each row). With `world` (MPI ranks), rank r scores batches r, r+N,
    ... and the losses are put back in order: the mean one process would get, on every rank."""
    world = world or World()
    batches = list(batches)
    with model.evaluating(), no_grad():
        mine = [float(model(x, y, last_only=last_only)[1].data) for x, y in batches[world.rank :: world.size]]
    parts = world.gather(mine)
    return float(np.mean([parts[i % world.size][i // world.size] for i in range(len(batches))]))
