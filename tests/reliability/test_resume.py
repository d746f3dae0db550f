"""Resume after an interruption, in-process and fast: nothing to resume yet, temporaries left by a killed write,
logs a killed run wrote past its checkpoint (or half a row of), and a run interrupted in its final evaluation."""

import json
import math

import numpy as np
import pandas as pd
import pytest

from lmladder.models import build_model
from lmladder.nn.schedules import ScheduleSettings
from lmladder.training import (
    CheckpointSettings,
    EvalSettings,
    OptimSettings,
    TrainingError,
    TrainSettings,
    make_rngs,
    train,
)
from lmladder.training import loop as loop_mod
from lmladder.training.logs import TsvLog
from lmladder.training.loop import LAST

from .harness import build_base, run_in_process, train_good

OPTIM = OptimSettings(lr=3e-3, schedule=ScheduleSettings(warmup_iters=5, min_lr=3e-4))
KW = dict(context=3, n_embd=8, n_hidden=32, dropout=0.1)


def _train(data, out, resume=None, stop_at=None, **kw):
    rngs = make_rngs(0)
    model = build_model("mlp", data=data, rng=rngs["model"], **KW)
    s = dict(
        max_iters=40,
        batch_size=8,
        seq_len=16,
        eval=EvalSettings(interval=10, iters=3),
        checkpoint=CheckpointSettings(interval=10),
    )
    s.update(kw)
    train(model, data, optim=OPTIM, train=TrainSettings(**s, grad_stats_interval=10, progress=False), rngs=rngs,
          out_dir=out, resume=resume, stop_at=stop_at, meta={"seed": 0}, log=lambda *_: None)  # fmt: skip
    return model


def test_resume_true_with_nothing_to_resume_starts_over(tmp_path):
    sb = build_base(tmp_path / "sb")
    good = train_good(sb) / "model.safetensors"  # same config, never interrupted
    run = tmp_path / "fresh"
    (run / ".hydra").mkdir(parents=True)  # a run killed during start-up leaves a folder and nothing else
    r = run_in_process(sb, "mlp", ["resume=true"], str(run))
    assert r.rc == 0, r.stderr
    assert "resume=true: no checkpoint in" in r.stdout and "starting from step 0" in r.stdout
    assert (run / "model.safetensors").read_bytes() == good.read_bytes()


def test_temporaries_of_a_killed_write_are_removed(tiny_names, tmp_path):
    stale = [".model.safetensors.0123456789ab.tmp", ".best.safetensors.ba9876543210.tmp"]
    for name in stale:
        (tmp_path / name).write_bytes(b"half a checkpoint")
    (tmp_path / ".notes.tmp").write_text("not ours")  # a user's file that merely looks similar is kept
    _train(tiny_names, tmp_path, max_iters=5)
    names = {p.name for p in tmp_path.iterdir()}
    assert not names & set(stale) and ".notes.tmp" in names


def test_log_rows_past_the_checkpoint_and_half_rows_are_dropped(tmp_path):
    path = tmp_path / "train_log.tsv"
    path.write_text("step\tloss\n0\t3.0\n1\t2.9\n2\t2.8\nnot a row\n3\t2.7\n1")  # "1": half of "12\t2.6"
    log = TsvLog(path, ["step", "loss"], truncate_from=3)
    log.write([3, 2.5])
    log.close()
    assert path.read_text() == "step\tloss\n0\t3.0\n1\t2.9\n2\t2.8\n3\t2.5\n"


def test_interrupted_in_the_final_evaluation_resumes_bit_for_bit(tiny_names, tmp_path, monkeypatch):
    straight = tmp_path / "straight"
    _train(tiny_names, straight)
    real, calls = loop_mod.estimate_loss, {"n": 0}

    def interrupted(*a, **k):  # evaluations at 0, 10, 20, 30, 40: train+val each; die in the last val one
        calls["n"] += 1
        if calls["n"] == 10:
            raise KeyboardInterrupt
        return real(*a, **k)

    split = tmp_path / "split"
    monkeypatch.setattr(loop_mod, "estimate_loss", interrupted)
    with pytest.raises(KeyboardInterrupt):
        _train(tiny_names, split)
    monkeypatch.setattr(loop_mod, "estimate_loss", real)
    _train(tiny_names, split, resume=split / "model.safetensors")
    for name in ("model.safetensors", "best.safetensors", "eval_log.tsv", "grad_stats.tsv"):
        assert (split / name).read_bytes() == (straight / name).read_bytes(), name


def test_resuming_a_finished_run_keeps_its_logs(tiny_names, tmp_path):
    _train(tiny_names, tmp_path)
    before = {n: (tmp_path / n).read_text() for n in ("train_log.tsv", "eval_log.tsv", "grad_stats.tsv")}
    ckpt = (tmp_path / "model.safetensors").read_bytes()
    _train(tiny_names, tmp_path, resume=tmp_path / "model.safetensors")
    assert {n: (tmp_path / n).read_text() for n in before} == before
    assert (tmp_path / "model.safetensors").read_bytes() == ckpt
    assert pd.read_csv(tmp_path / "eval_log.tsv", sep="\t")["step"].tolist() == [0, 10, 20, 30, 40]


def test_a_checkpoint_past_max_iters_is_refused(tiny_names, tmp_path):
    _train(tiny_names, tmp_path)
    with pytest.raises(TrainingError, match=r"at step 40, past max_iters=20; raise max_iters"):
        _train(tiny_names, tmp_path, resume=tmp_path / "model.safetensors", max_iters=20)


def test_nonfinite_before_any_checkpoint_says_so(tiny_names, tmp_path):
    rngs = make_rngs(0)
    model = build_model("mlp", vocab_size=tiny_names.vocab_size, rng=rngs["model"], **KW)
    model.head.bias.data[0] = np.nan
    with pytest.raises(TrainingError, match=r"at step 0 .*; no checkpoint yet; lower lr="):
        train(model, tiny_names, optim=OPTIM, train=TrainSettings(max_iters=5, progress=False), rngs=rngs,
              out_dir=tmp_path, log=lambda *_: None)  # fmt: skip
    assert not (tmp_path / "model.safetensors").exists() and math.isnan(float(model.head.bias.data[0]))


def _timing(folder):
    return json.loads((folder / "timing.json").read_text())


def test_resuming_a_finished_run_keeps_its_timing(tiny_names, tmp_path):
    _train(tiny_names, tmp_path)
    before = (tmp_path / "timing.json").read_text()
    assert _timing(tmp_path)["step"] == 40 and _timing(tmp_path)["train_time_s"] > 0
    rngs = make_rngs(0)
    model = build_model("mlp", data=tiny_names, rng=rngs["model"], **KW)
    s = TrainSettings(max_iters=40, batch_size=8, seq_len=16, eval=EvalSettings(interval=10, iters=3),
                      checkpoint=CheckpointSettings(interval=10), progress=False)  # fmt: skip
    res = train(model, tiny_names, optim=OPTIM, train=s, rngs=rngs, out_dir=tmp_path,
                resume=tmp_path / "model.safetensors", log=lambda *_: None)  # fmt: skip
    assert (tmp_path / "timing.json").read_text() == before  # not rewritten as 0 s and 0 tokens/s
    assert res.train_time_s == _timing(tmp_path)["train_time_s"] > 0 and res.tokens_per_s > 0


def test_an_interrupted_run_adds_its_timing_across_the_resume(tiny_names, tmp_path):
    _train(tiny_names, tmp_path, max_iters=40, stop_at=20)
    first = _timing(tmp_path)
    assert first["step"] == 20 and first["train_time_s"] > 0
    _train(tiny_names, tmp_path, max_iters=40, resume=tmp_path / "model.safetensors")
    total = _timing(tmp_path)
    assert total["step"] == 40 and total["train_time_s"] > first["train_time_s"] and total["tokens"] > first["tokens"]
    assert "timed_from_step" not in total


def test_a_resume_without_the_earlier_timing_says_which_steps_it_timed(tiny_names, tmp_path):
    _train(tiny_names, tmp_path / "a", max_iters=40, stop_at=20)
    _train(tiny_names, tmp_path / "b", max_iters=40, resume=tmp_path / "a" / "model.safetensors")
    assert _timing(tmp_path / "b")["timed_from_step"] == 20  # steps 0-19 ran elsewhere: b's total is unknown


def test_resuming_with_another_seed_is_refused(tiny_names, tmp_path):
    _train(tiny_names, tmp_path, max_iters=10)
    rngs = make_rngs(1)
    model = build_model("mlp", data=tiny_names, rng=rngs["model"], **KW)
    with pytest.raises(TrainingError, match=r"trained with seed=0, this run asks for seed=1; resume with seed=0"):
        train(model, tiny_names, optim=OPTIM, train=TrainSettings(max_iters=20, progress=False), rngs=rngs,
              out_dir=tmp_path, meta={"seed": 1}, resume=tmp_path / LAST, log=lambda *_: None)  # fmt: skip
