"""data/shuffle.py and shuffle_jit.py: the permutation random.Random(seed).shuffle gives list(range(n)), as an
array, for any seed Python takes and any size, compiled or not."""

import random

import numpy as np
import pytest

import lmladder.data.shuffle as shuffle
from lmladder.data.shuffle import shuffled_range

jit = pytest.importorskip("lmladder.data.shuffle_jit")

SEEDS = [0, 1, 42, 2**40 + 3, 2**100 + 7, -5, "names"]  # config's split_seed is an int >= 0; Python takes more
SIZES = [0, 1, 2, 3, 1000, 1025, (1 << 16) + 1]


def _python(n: int, seed) -> list[int]:
    order = list(range(n))
    random.Random(seed).shuffle(order)
    return order


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("n", SIZES)
def test_the_compiled_shuffle_is_pythons(n, seed):
    x = np.arange(n, dtype=np.uint32)
    jit.shuffle_into(x, jit.state_of(random.Random(seed)))
    assert x.tolist() == _python(n, seed)


def test_a_million_items_and_the_generator_left_where_python_leaves_it():
    rng, mt = random.Random(123), jit.state_of(random.Random(123))
    x = np.arange(10**6, dtype=np.int64)
    jit.shuffle_into(x, mt)
    ref = list(range(10**6))
    rng.shuffle(ref)
    assert x.tolist() == ref
    assert mt.tolist() == list(rng.getstate()[1])  # every draw Python made, rejections included


def test_single_draws_match_randbelow_past_32_bits():
    ms = np.array([1, 2, 3, 7, 2**31, 2**32 - 1, 2**32, 2**32 + 1, 3 * 2**33, 2**40 + 7, 2**62 + 5] * 80)
    rng = random.Random(7)
    assert jit.draws(jit.state_of(random.Random(7)), ms).tolist() == [rng._randbelow(int(m)) for m in ms]


@pytest.mark.parametrize("jit_from", [shuffle.JIT_FROM, 0])
@pytest.mark.parametrize("n", [0, 1, 5, 70_000])
def test_shuffled_range_is_the_same_in_python_and_compiled(monkeypatch, jit_from, n):
    monkeypatch.setattr(shuffle, "JIT_FROM", jit_from)
    got = shuffled_range(n, 42)
    assert got.dtype == np.uint32 and got.tolist() == _python(n, 42)


def test_without_numba_python_shuffles(monkeypatch):
    monkeypatch.setattr(shuffle, "_load_jit", lambda: None)
    assert shuffled_range(70_000, 3).tolist() == _python(70_000, 3)


def test_an_unknown_generator_state_is_refused():
    class Other(random.Random):
        def getstate(self):
            return (2, (0,) * 625, None)

    with pytest.raises(ValueError, match="unknown random.Random state"):
        jit.state_of(Other(0))
