"""The caching allocator hands an array out again only when nothing (no tensor, no view) references it."""

import numpy as np
import pytest

from lmladder import nn
from lmladder.fast import memory, switch
from lmladder.models import build_model


@pytest.fixture(autouse=True)
def fresh_pool(monkeypatch):
    memory.release()
    monkeypatch.setattr(memory, "MIN_BYTES", 0)
    yield
    memory.release()


def test_free_array_is_reused_and_busy_one_is_not():
    a = memory.empty((4, 5), np.float32)
    addr = a.ctypes.data
    b = memory.empty((4, 5), np.float32)
    assert b is not a  # a is still referenced
    del a
    c = memory.empty((4, 5), np.float32)
    assert c.ctypes.data == addr  # a's buffer came back
    assert memory.empty((4, 5), np.float64) is not c  # dtype is part of the key


def test_a_live_view_keeps_its_base_busy():
    a = memory.empty((6,), np.float32)
    view = a.reshape(2, 3)[1:]
    del a
    b = memory.empty((6,), np.float32)
    assert not np.shares_memory(b, view)
    del view, b
    assert memory.pooled_bytes() == 2 * 6 * 4


def test_limit_and_small_arrays_bypass_the_pool(monkeypatch):
    monkeypatch.setattr(memory, "LIMIT_BYTES", 0)
    a = memory.empty((3,), np.float32)
    del a
    assert memory.pooled_bytes() == 0
    monkeypatch.setattr(memory, "LIMIT_BYTES", 1 << 20)
    monkeypatch.setattr(memory, "MIN_BYTES", 1 << 10)
    memory.empty((3,), np.float32)
    assert memory.pooled_bytes() == 0


def _train_bits(steps=3):
    rng = np.random.default_rng(0)
    model = build_model(
        "transformer", vocab_size=11, block_size=8, n_layer=2, n_head=2, n_embd=16, dropout=0.1, rng=rng
    )
    opt = nn.AdamW(nn.decay_groups(model.named_parameters(), 0.1), lr=1e-2)
    data = np.random.default_rng(1).integers(0, 11, (steps, 3, 9))
    for batch in data:
        _, loss = model(batch[:, :-1], batch[:, 1:])
        loss.backward()
        nn.clip_grad_norm(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad()
    return np.concatenate([p.data.ravel() for p in model.parameters()])


def test_training_is_bitwise_identical_with_and_without_the_pool(monkeypatch):
    pooled = _train_bits()
    assert memory.pooled_bytes() > 0
    memory.release()
    monkeypatch.setattr(memory, "LIMIT_BYTES", 0)
    plain = _train_bits()
    np.testing.assert_array_equal(pooled, plain)


def test_the_numpy_backend_turns_the_pool_off():
    switch.set_backend("numpy")
    try:
        memory.empty((4, 5), np.float32)
        assert memory.pooled_bytes() == 0
    finally:
        switch.set_backend("compiled")
    memory.empty((4, 5), np.float32)
    assert memory.pooled_bytes() == 4 * 5 * 4
