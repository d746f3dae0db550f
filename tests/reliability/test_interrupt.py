"""Ctrl-C always stops a run: a real SIGINT whose KeyboardInterrupt Python swallows in a finaliser ("Exception
ignored in ... __del__") still stops the training loop at its next step, with a checkpoint that resumes bit for
bit (lmladder.interrupt)."""

import signal

import pytest

from lmladder import interrupt
from lmladder.training import loop as loop_mod

from .test_resume import _train


class _SigintInFinaliser:
    """An object whose finaliser is running when SIGINT arrives: Python prints the KeyboardInterrupt and goes on."""

    def __del__(self):
        signal.raise_signal(signal.SIGINT)


pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")


@pytest.fixture(autouse=True)
def python_handles_sigint():
    """SIGINT as a program started from a terminal has it (a pytest-xdist worker ignores it)."""
    old = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, old)


def test_a_swallowed_interrupt_is_raised_by_check():
    with interrupt.catching():
        _SigintInFinaliser()  # dropped at once: its finaliser swallows the KeyboardInterrupt
        with pytest.raises(KeyboardInterrupt):
            interrupt.check()
        interrupt.check()  # raised once


def test_without_catching_python_swallows_it_for_good():
    _SigintInFinaliser()
    interrupt.check()  # no mark: Python's own handler ran


def test_an_ignored_sigint_stays_ignored():
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a background job's
    with interrupt.catching():
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
        _SigintInFinaliser()
        interrupt.check()
    assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN


def test_training_stops_at_the_next_step_and_resumes_bit_for_bit(tiny_names, tmp_path, monkeypatch):
    straight = tmp_path / "straight"
    _train(tiny_names, straight)
    real, calls = loop_mod.grad_stats, {"n": 0}

    def swallowing(*a, **k):  # called at steps 0, 10, 20, 30: Ctrl-C lands in a finaliser at step 20
        calls["n"] += 1
        if calls["n"] == 3:
            _SigintInFinaliser()
        return real(*a, **k)

    split = tmp_path / "split"
    monkeypatch.setattr(loop_mod, "grad_stats", swallowing)
    with interrupt.catching(), pytest.raises(KeyboardInterrupt):
        _train(tiny_names, split)
    assert calls["n"] == 3, "the run went on past the interrupted step"
    monkeypatch.setattr(loop_mod, "grad_stats", real)
    _train(tiny_names, split, resume=split / "model.safetensors")
    for name in ("model.safetensors", "best.safetensors", "eval_log.tsv", "grad_stats.tsv"):
        assert (split / name).read_bytes() == (straight / name).read_bytes(), name
