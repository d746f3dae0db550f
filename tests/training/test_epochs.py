"""train.sampling=epochs (training/batches.py EpochBatches): every window or document once per epoch, in a fresh
order each epoch, batch k a function of k alone, and a run that uses it resumes bit for bit."""

import numpy as np
import pytest

from lmladder.data.prepared import Prepared
from lmladder.training.average import AverageSettings
from lmladder.training.batches import Batcher, EpochBatches

from .test_loop import run, straight_and_resumed


def _prepared(kind, train, boundary_id=None):
    return Prepared(tokenizer=None, kind=kind, boundary_id=boundary_id, splits={"train": train}, stats={})


def _rows(epochs, batches):
    return [epochs.batch(k) for k in range(batches)]


def test_stream_epochs_cut_the_split_into_windows_each_seen_once():
    n, T, B = 1000, 8, 5
    tokens = np.arange(n, dtype=np.int64)  # a token is its position, so a row's first x is its window's start
    epochs = EpochBatches(Batcher(_prepared("stream", tokens), "train", B, T), seed=3)
    assert epochs.per_epoch == (n - 1 - T - (T - 1)) // T + 1
    starts = np.concatenate([x[:, 0] for x, _ in _rows(epochs, 3 * epochs.per_epoch // B + 1)])
    for e in range(3):
        one = starts[e * epochs.per_epoch : (e + 1) * epochs.per_epoch]
        assert len(set(one % T)) == 1 and np.array_equal(np.sort(one), one.min() + T * np.arange(len(one)))
        assert one.max() + T + 1 <= n  # every window and its shifted target inside the split
    first, second = starts[: epochs.per_epoch], starts[epochs.per_epoch : 2 * epochs.per_epoch]
    assert not np.array_equal(first - first.min(), second - second.min())  # a fresh order each epoch
    x, y = epochs.batch(7)
    assert np.array_equal(y, x + 1)


def test_lines_epochs_hold_every_document_once_with_random_crops():
    docs = [np.arange(1, 3 + k % 11) + 100 * k for k in range(37)]  # 37 documents of 2-12 tokens, all distinct
    tokens = np.concatenate([[0]] + [np.append(d, 0) for d in docs])
    T, B = 6, 4
    epochs = EpochBatches(Batcher(_prepared("lines", tokens, boundary_id=0), "train", B, T), seed=0)
    assert epochs.per_epoch == 37
    seen = [int(r[r > 0].min()) // 100 for x, _ in _rows(epochs, 37 * 2 // B + 1) for r in x[:, :]]
    for e in range(2):
        assert sorted(seen[e * 37 : (e + 1) * 37]) == list(range(37))
    assert seen[:37] != seen[37:74]
    crops = {int(x[i, 1]) for k in range(40) for x, _ in [epochs.batch(k)] for i in range(B) if x[i, 0] > 0}
    assert len(crops) > 1  # a document longer than T + 1 starts at different places across epochs


def test_batch_k_depends_on_k_and_the_seed_alone(tiny_stream):
    make = lambda seed: EpochBatches(Batcher(tiny_stream, "train", 16, 32), seed)  # noqa: E731
    a, b = make(0), make(0)
    late = [b.batch(k) for k in (2000, 5, 999)]  # another order of calls, across epochs
    for k, (x, y) in zip((2000, 5, 999), late, strict=True):
        ax, ay = a.batch(k)
        assert np.array_equal(ax, x) and np.array_equal(ay, y)
    assert not np.array_equal(make(1).batch(5)[0], late[1][0])


@pytest.mark.parametrize("data", ["tiny_names", "tiny_stream"])
def test_a_run_with_epochs_resumes_bit_for_bit_and_differs_from_random(data, request, tmp_path):
    average = AverageSettings(name="ema", decay=0.9, start=10)
    corpus, kw = request.getfixturevalue(data), dict(sampling="epochs", average=average)
    straight = straight_and_resumed("transformer", corpus, tmp_path, **kw)
    run("transformer", corpus, tmp_path / "random", average=average)
    assert (tmp_path / "random" / "train_log.tsv").read_bytes() != (straight / "train_log.tsv").read_bytes()
