"""The live log through real DVC in a temporary git repo (the e2e test's copy of the project): `dvc exp show` reads a
running experiment's growing step, `dvc plots diff` draws two experiments' curves, and plain runs and sweeps log
into their own job folders without making DVC experiments. Slow: `python -m pytest -m slow tests/test_live_dvc.py`.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests import test_pipeline_e2e as e2e
from tests.test_pipeline_e2e import TINY, dvc, sh

repo = e2e.repo  # the fixture: a copy of the project in a temporary git repository

pytestmark = pytest.mark.slow

MLP_LIVE = "dvclive/mlp/seed0/metrics.json"
HANG = 600  # seconds: a guard against a hung command, never a speed requirement


def _running_mlp_step(root: Path) -> int | None:
    """The step `dvc exp show` reports for a running experiment's mlp stage, or None (none running yet)."""
    r = dvc("exp", "show", "--json", cwd=root, check=False)
    if r.returncode:
        return None
    for baseline in json.loads(r.stdout or "[]"):
        for exp in baseline.get("experiments") or []:
            if (exp.get("executor") or {}).get("state") != "running":
                continue
            for rev in exp.get("revs") or []:
                metrics = ((rev.get("data") or {}).get("metrics") or {}).get(MLP_LIVE) or {}
                step = (metrics.get("data") or {}).get("step")
                if isinstance(step, int):
                    return step
    return None


def _files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_dvc_exp_show_reads_the_running_experiments_step(repo):
    # a million steps: the run cannot end before it is seen, on any machine; the test stops it once seen
    args = ["exp", "run", "train@mlp-0", *(a for o in TINY for a in ("-S", o)), "-S", "mlp.train.max_iters=1000000"]
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    env.pop("DVC_STAGE", None)
    p = subprocess.Popen(
        [sys.executable, "-m", "dvc", *args], cwd=repo, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, start_new_session=True,
        # a background job (`pytest ... &`) inherits SIGINT ignored, and so would DVC and the stage it runs
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip
    # until the new run logs, `dvc exp show` shows the workspace's last finished run (persist: true keeps it)
    last = repo / "dvclive" / "mlp" / "seed0" / "metrics.json"
    stale = json.loads(last.read_text()).get("step") if last.exists() else None
    try:
        seen: list[int] = []
        deadline = time.monotonic() + HANG
        while len(set(seen)) < 2 and time.monotonic() < deadline:  # two different steps: it grows
            assert p.poll() is None, f"dvc exp run ended early:\n{p.stdout.read()}"
            if (step := _running_mlp_step(repo)) is not None and step != stale:
                seen.append(step)
            time.sleep(1)
        assert p.poll() is None, "the run must still be training when its step is read"
        assert len(set(seen)) >= 2 and seen == sorted(seen) and seen[-1] > 0, seen
    finally:
        os.killpg(p.pid, signal.SIGINT)  # Ctrl-C: DVC stops the stage and the experiment
        p.communicate(timeout=HANG)
    live = repo / "dvclive" / "mlp" / "seed0" / "plots" / "metrics" / "train" / "loss.tsv"
    assert len(live.read_text().splitlines()) > 2, "the curve's rows are in DVCLive's plots folder"


def test_dvc_plots_diff_draws_two_experiments_curves(repo):
    for name, lr in (("live-a", "0.01"), ("live-b", "0.002")):
        dvc("exp", "run", "train@mlp-0", "-n", name, *(a for o in TINY for a in ("-S", o)),
            "-S", f"mlp.optim.lr={lr}", cwd=repo)  # fmt: skip
    shown = json.loads(dvc("exp", "show", "--json", cwd=repo).stdout)
    steps = {
        rev["name"]: rev["data"]["metrics"][MLP_LIVE]["data"]["step"]
        for baseline in shown
        for exp in baseline.get("experiments") or []
        for rev in exp.get("revs") or []
        if rev.get("name") in ("live-a", "live-b")
    }
    assert steps == {"live-a": 60, "live-b": 60}, steps  # TINY: mlp.train.max_iters=60, its final evaluation
    plots = json.loads(dvc("plots", "diff", "live-a", "live-b", "--json", cwd=repo).stdout)["data"]
    curve = plots["dvclive/mlp/seed0/plots/metrics/train/loss.tsv"][0]
    assert set(curve["revisions"]) == {"live-a", "live-b"}
    rows = curve["content"]["data"]["values"]
    for rev in ("live-a", "live-b"):
        assert [int(r["step"]) for r in rows if r["rev"] == rev] == list(range(60))


def test_plain_runs_and_sweeps_log_into_their_job_folders_and_make_no_experiment(repo):
    refs = sh(["git", "for-each-ref", "refs/exps"], repo).stdout
    before = _files(repo / "dvclive")
    tiny = [o for o in TINY if o.startswith("mlp.")]
    sh([sys.executable, "stages/train.py", "rung=mlp", *tiny, "hydra.run.dir=outputs/runs/live"], repo)
    sh([sys.executable, "stages/train.py", "-m", "rung=mlp", "seed=0,1", *tiny,
        "hydra.sweep.dir=outputs/multirun/live"], repo)  # fmt: skip
    for job in ("runs/live", "multirun/live/0", "multirun/live/1"):
        summary = json.loads((repo / "outputs" / job / "dvclive" / "metrics.json").read_text())
        assert summary["step"] == 60 and set(summary) == {"step", "train", "eval"}, (job, summary)
    assert sh(["git", "for-each-ref", "refs/exps"], repo).stdout == refs, "a plain run made a DVC experiment"
    assert _files(repo / "dvclive") == before, "a plain run wrote into the pipeline's dvclive/"
    assert not (repo / "outputs" / "runs" / "live" / "dvc.yaml").exists()
