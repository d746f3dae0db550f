"""The training progress bar (tqdm): resumed at the right step, sparse lines in a log, redrawn in place on a
terminal, silent when switched off."""

import gc
import io
import sys

import numpy as np

from lmladder.progress import progress_bar
from lmladder.training import TrainingError, train

from .test_loop import OPTIM, build, run, settings


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _steps(monkeypatch, stream, start=4, total=10, enabled=True) -> str:
    monkeypatch.setattr(sys, "stderr", stream)
    bar = progress_bar(total, start, enabled=enabled)
    for step in range(start, total):  # as training/loop.py drives it
        bar.set_postfix({"loss": "2.5", "lr": "0.001", "tok/s": "12,345"}, refresh=False)
        bar.update(step + 1 - bar.n)
    bar.close()
    return stream.getvalue()


def test_in_a_log_each_redraw_is_a_line_and_they_are_sparse(monkeypatch):
    out = _steps(monkeypatch, io.StringIO())
    assert "\r" not in out and out.endswith("\n")
    first, last = out.splitlines()  # where it starts and where it ends: not a line per step
    assert "4/10" in first and "?step/s" in first  # resumed: the rate counts this run's steps only
    assert "10/10 [" in last and "<00:00" in last and "loss=2.5, lr=0.001, tok/s=12,345" in last  # ETA, fields


def test_on_a_terminal_the_bar_is_redrawn_in_place(monkeypatch):
    out = _steps(monkeypatch, _Terminal())
    assert out.startswith("\r") and out.count("\n") == 1 and out.endswith("\n")
    assert "10/10 [" in out.split("\r")[-1]


def test_switched_off_it_prints_nothing(monkeypatch):
    assert _steps(monkeypatch, io.StringIO(), enabled=False) == ""


def test_the_training_loop_shows_loss_lr_and_speed_and_resumes_at_its_step(tiny_names, tmp_path, capsys):
    run("mlp", tiny_names, tmp_path, stop_at=20, progress=True)
    first = capsys.readouterr().err.splitlines()
    run("mlp", tiny_names, tmp_path, resume=tmp_path / "model.safetensors", progress=True)
    second = capsys.readouterr().err.splitlines()
    assert "0/40" in first[0] and "20/40" in first[-1]
    assert "20/40" in second[0] and "40/40" in second[-1]
    assert all(f"{k}=" in second[-1] for k in ("loss", "lr", "tok/s"))


def test_a_training_error_closes_the_bar_before_the_message_is_shown(tiny_names, tmp_path, capsys):
    model, rngs = build("mlp", tiny_names)
    model.head.bias.data[3] = np.inf  # every loss is non-finite: train() raises at step 0
    try:
        train(model, tiny_names, optim=OPTIM, train=settings(progress=True), rngs=rngs, out_dir=tmp_path, log=print)
    except TrainingError:  # where a caller prints the message: the bar has drawn its start and its close already...
        lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2 and all("0/40 [" in line for line in lines)
    gc.collect()
    assert capsys.readouterr().err == ""  # ...and prints nothing after it (were it closed at garbage collection)


def test_scoring_a_long_split_shows_a_bar_unless_switched_off(monkeypatch, tiny_names):
    """Final exact scoring of a long split took tens of seconds without a word; past PROGRESS_FROM tokens it draws
    the same sparse bar (a count model here: the bar belongs to scoring, not to training)."""
    from lmladder.inference import scoring
    from lmladder.models import build_model

    model = build_model("bigram", vocab_size=tiny_names.tokenizer.vocab_size, order=2, k=1.0)
    model.fit(np.asarray(tiny_names.splits["train"]))
    monkeypatch.setattr(scoring, "PROGRESS_FROM", 10)
    shown, silent = io.StringIO(), io.StringIO()
    monkeypatch.setattr(sys, "stderr", shown)
    on = scoring.score_splits(model, tiny_names, progress=True)
    monkeypatch.setattr(sys, "stderr", silent)
    off = scoring.score_splits(model, tiny_names, progress=False)
    n = tiny_names.splits["val"].size - 1
    assert f"{n}/{n}" in shown.getvalue() and "tok" in shown.getvalue() and silent.getvalue() == ""
    assert on == off
