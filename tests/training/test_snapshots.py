"""Snapshots (train.checkpoint.snapshots): a run keeps its state at chosen steps, and a run of another length that
goes on from one, on a warmup-stable-decay schedule, is the run of that length trained from step 0, to the bit: the
ground of a frontier study's cool-down branches (docs/frontier.md)."""

import json

import pytest

from lmladder.models import build_model
from lmladder.nn.muon import MuonSettings
from lmladder.nn.schedules import ScheduleSettings, WarmupStableDecay, WsdSettings
from lmladder.training import (
    CheckpointSettings,
    EvalSettings,
    OptimSettings,
    SettingsError,
    TrainSettings,
    make_rngs,
    train,
)
from lmladder.training.snapshots import copy_file, snapshot_files

WSD = WsdSettings(cooldown_frac=0.25)
GPT = dict(block_size=16, n_layer=1, n_head=2, n_embd=16, dropout=0.1)  # dropout: the model's stream goes on too
OPTIMS = {
    "adamw": OptimSettings(lr=3e-3, schedule=ScheduleSettings(name="wsd", warmup_iters=4, min_lr=3e-4, wsd=WSD)),
    "muon": OptimSettings(
        name="muon",
        lr=3e-3,
        muon=MuonSettings(lr=0.02, momentum_warmup=10),
        schedule=ScheduleSettings(name="wsd", warmup_iters=4, wsd=WSD),
    ),  # fmt: skip
}
LOGS = ("train_log.tsv", "eval_log.tsv", "grad_stats.tsv")


def run(data, out, optim, max_iters, resume=None, snapshots=()):
    rngs = make_rngs(0)
    model = build_model("transformer", data=data, rng=rngs["model"], **GPT)
    s = TrainSettings(max_iters=max_iters, batch_size=8, eval=EvalSettings(interval=10, iters=3), grad_stats_interval=5,
                      checkpoint=CheckpointSettings(interval=7, snapshots=list(snapshots)), progress=False)  # fmt: skip
    train(model, data, optim=optim, train=s, rngs=rngs, out_dir=out, resume=resume, log=lambda *_: None)


def cooldown_start(optim, steps: int) -> int:
    schedule = optim.schedule.build(optim.lr, steps)
    assert isinstance(schedule, WarmupStableDecay)
    return schedule.cooldown_start


@pytest.mark.parametrize("name", ["adamw", "muon"])
def test_a_branch_from_a_snapshot_is_the_separate_run(name, tiny_names, tmp_path):
    optim = OPTIMS[name]
    k = cooldown_start(optim, 36)  # 36 steps cool down over their last 9: the branch starts at 27
    assert k == 27
    run(tiny_names, tmp_path / "trunk", optim, 60, snapshots=[k])
    files = snapshot_files(tmp_path / "trunk", k)
    assert all(f.is_file() for f in files.values())
    branch = tmp_path / "branch"
    for name_in_run, snap in files.items():
        copy_file(snap, branch / name_in_run)
    for log in LOGS:  # the trunk's rows past the snapshot are dropped on resume
        copy_file(tmp_path / "trunk" / log, branch / log)
    run(tiny_names, branch, optim, 36, resume=branch / "model.safetensors")
    run(tiny_names, tmp_path / "alone", optim, 36)
    for f in ("model.safetensors", "best.safetensors", *LOGS):
        assert (branch / f).read_bytes() == (tmp_path / "alone" / f).read_bytes(), f
    timing = [json.loads((d / "timing.json").read_text()) for d in (branch, tmp_path / "alone")]
    assert timing[0]["tokens"] == timing[1]["tokens"] and "timed_from_step" not in timing[0]


def test_snapshot_steps_are_checked():
    snap = r"checkpoint.snapshots=\[5, 40\] holds 40, outside \[1, max_iters=40\)"
    with pytest.raises(SettingsError, match=snap):
        TrainSettings(max_iters=40, checkpoint=CheckpointSettings(snapshots=[5, 40])).check()
    with pytest.raises(SettingsError, match=r"snapshots=\['5'\] must be a list of steps"):
        TrainSettings(max_iters=40, checkpoint=CheckpointSettings(snapshots=["5"])).check()
