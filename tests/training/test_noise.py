"""train.input_noise (training/noise.py): input tokens replaced by unigram draws at the given rate, targets and a
lines corpus's boundaries kept, batch k's draws a function of the seed and k alone, and a run resumes bit for bit."""

import numpy as np
import pytest

from lmladder.data.errors import DataError
from lmladder.training.noise import InputNoise, unigram

from .test_loop import run, straight_and_resumed


def test_unigram_counts_in_chunks_and_leaves_out_the_boundary(monkeypatch):
    monkeypatch.setattr("lmladder.training.noise.CHUNK", 3)  # several chunks, the last one short
    tokens = np.array([0, 1, 1, 2, 2, 2, 0, 1], dtype=np.uint8)
    assert np.allclose(unigram(tokens, 4), [2 / 8, 3 / 8, 3 / 8, 0])
    assert np.allclose(unigram(tokens, 4, skip=0), [0, 0.5, 0.5, 0])
    with pytest.raises(DataError, match="set input_noise=0"):
        unigram(np.zeros(5, dtype=np.uint8), 3, skip=0)


def test_the_rate_and_the_draws_follow_p_and_the_unigram():
    tokens = np.repeat(np.arange(4), [1000, 3000, 0, 6000])  # token 2 never occurs in train
    noise = InputNoise(tokens, 4, p=0.2, seed=0)
    x = np.full((256, 64), 3, dtype=np.int64)
    out = noise(x, 0)
    hit = out != 3  # a draw of 3 leaves a 3: the rate of visible changes is p * (1 - 0.6)
    assert abs(hit.mean() - 0.2 * 0.4) < 0.01
    drawn = np.bincount(out[hit], minlength=4) / hit.sum()
    assert drawn[2] == 0 and abs(drawn[0] / drawn[1] - 1 / 3) < 0.05
    assert np.array_equal(x, np.full((256, 64), 3))  # the batch itself is not changed


def test_a_lines_corpus_keeps_its_boundaries():
    tokens = np.array([0, 1, 2, 0, 3, 1, 0], dtype=np.uint8)  # 0: the boundary
    noise = InputNoise(tokens, 4, p=0.9, seed=1, boundary_id=0)
    x = np.tile(np.array([0, 1, 2, 3, 0, 0]), (50, 1))  # each row: a document, then padding
    out = noise(x, 3)
    assert (out[x == 0] == 0).all() and (out[x != 0] != 0).all()
    assert (out[:, 1:4] != x[:, 1:4]).any()


def test_batch_k_depends_on_the_seed_and_k_alone():
    tokens = np.arange(50) % 7
    x = np.tile(np.arange(7), (8, 3))
    a, b = InputNoise(tokens, 7, 0.3, seed=5), InputNoise(tokens, 7, 0.3, seed=5)
    later = [b(x, k) for k in (9, 2)]  # another order of calls
    assert np.array_equal(a(x, 2), later[1]) and np.array_equal(a(x, 9), later[0])
    assert not np.array_equal(a(x, 2), a(x, 3))
    assert not np.array_equal(a(x, 2), InputNoise(tokens, 7, 0.3, seed=6)(x, 2))


@pytest.mark.parametrize(("data", "sampling"), [("tiny_names", "random"), ("tiny_stream", "epochs")])
def test_a_run_with_input_noise_resumes_bit_for_bit_and_differs_from_one_without(data, sampling, request, tmp_path):
    corpus = request.getfixturevalue(data)
    straight = straight_and_resumed("transformer", corpus, tmp_path, input_noise=0.1, sampling=sampling)
    run("transformer", corpus, tmp_path / "clean", sampling=sampling)
    assert (tmp_path / "clean" / "train_log.tsv").read_bytes() != (straight / "train_log.tsv").read_bytes()
