"""The run's DVCLive log (training/live.py).

The log of a run killed with SIGKILL after a checkpoint and continued with
resume=true holds exactly the uninterrupted run's rows: the steps the killed run logged past its checkpoint are
dropped, none is missing or repeated. Real training of a tiny MLP through stages/train.py; the kill is planted by
inject.py inside a chosen training step, so it lands at the same step on any machine. And the pipeline cannot
turn the log off: dvc.yaml declares it as the stage's output."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.shared_data import shared_file

from .harness import ROOT, THREADS

INJECT = Path(__file__).with_name("inject.py")
CHECKPOINT, EVAL = 20, 25
KILL_AT = 31  # the 31st training step (step 30): past the evaluation at 25, before the checkpoint at 40


def _train(tmp: Path, run: str, *extra: str, inject: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    names = tmp / "names.txt"
    if not names.exists():
        names.write_text("\n".join(shared_file("names.txt").read_text().splitlines()[:1500]) + "\n")
    args = [
        "rung=mlp", "data.source=file", f"data.path={names}", f"data.raw_dir={tmp}/raw",
        f"paths.prepared={tmp}/prepared", "mlp.model.n_hidden=32", "mlp.train.max_iters=60",
        f"mlp.train.eval.interval={EVAL}", "mlp.train.eval.iters=2", f"mlp.train.checkpoint.interval={CHECKPOINT}",
        "mlp.sample.num_samples=2", "mlp.sample.sample_tokens=20", "mlp.train.progress=false",
        f"hydra.run.dir={tmp / run}", *extra,
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k not in ("DVC_STAGE", "LMLADDER_DEBUG")}
    cmd = [sys.executable, *inject, str(ROOT / "stages" / "train.py"), *args]
    return subprocess.run(cmd, cwd=tmp, env={**env, **THREADS}, capture_output=True, text=True, timeout=600)


def _rows(run: Path) -> dict[str, str]:
    """Every file of the run's DVCLive folder (no timestamp column is logged: all of it must match)."""
    live = run / "dvclive"
    return {p.relative_to(live).as_posix(): p.read_text() for p in sorted(live.rglob("*")) if p.is_file()}


@pytest.mark.slow  # 15-30 s of real training runs: CI's slow pass
def test_a_killed_and_resumed_run_logs_the_uninterrupted_rows(tmp_path):
    straight = _train(tmp_path, "straight")
    assert straight.returncode == 0, straight.stderr
    killed = _train(tmp_path, "killed", inject=(str(INJECT), "kill-step", str(KILL_AT)))
    assert killed.returncode == -9, killed.stderr
    val = (tmp_path / "killed" / "dvclive" / "plots" / "metrics" / "eval" / "val_loss.tsv").read_text()
    last = int(val.splitlines()[-1].split("\t")[0])
    # past its checkpoint (step 20) the killed run logged steps 20-24 and the evaluation at 25 (an evaluation writes
    # the rows logged before it at once): resuming must drop them
    assert EVAL <= last < 2 * CHECKPOINT, f"the kill landed after step {last}; move KILL_AT"

    resumed = _train(tmp_path, "killed", "resume=true")
    assert resumed.returncode == 0, resumed.stderr
    assert f"at step {CHECKPOINT}" in resumed.stdout
    want, got = _rows(tmp_path / "straight"), _rows(tmp_path / "killed")
    assert sorted(got) == sorted(want) == [
        "metrics.json", "params.yaml", "plots/metrics/eval/train_loss.tsv", "plots/metrics/eval/val_loss.tsv",
        "plots/metrics/train/loss.tsv", "plots/metrics/train/lr.tsv",
    ]  # fmt: skip
    for name in want:
        assert got[name] == want[name], f"{name} differs from the uninterrupted run's"
    steps = [int(r.split("\t")[0]) for r in want["plots/metrics/train/loss.tsv"].splitlines()[1:]]
    assert steps == list(range(60))


def test_the_pipeline_refuses_to_train_without_its_live_log(tmp_path):
    """Under DVC (DVC_STAGE, the params.yaml snapshot) mlp.train.dvclive=false is one line naming the fix."""
    env = {k: v for k, v in os.environ.items() if k != "LMLADDER_DEBUG"}
    cmd = [
        sys.executable, str(ROOT / "stages" / "train.py"), "--config-dir", str(ROOT), "--config-name", "params",
        "hydra.run.dir=.", "hydra.output_subdir=null", "hydra/job_logging=stdout", "rung=mlp",
        "mlp.train.dvclive=false",
    ]  # fmt: skip
    env = {**env, **THREADS, "DVC_STAGE": "train@mlp-0"}
    r = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip().splitlines()[-1] == (
        "lmladder mlp: error: mlp.train.dvclive=false: dvc.yaml declares this run's live log as an output; leave it "
        "true in the pipeline (turn it off for plain runs and sweeps: python stages/train.py ...)"
    )
    assert not list(tmp_path.iterdir()), "nothing is written"
