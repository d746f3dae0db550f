"""plan -> run -> kill -> run -> fit on a tiny grid, for real: a copy of the project (conf/, stages/), a small
names corpus, the `lmladder` command in subprocesses, the whole process group killed with SIGKILL mid-grid. The
second run finishes the grid (through the joblib launcher) without touching a finished point; two fits of the same
runs write the same bytes."""

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lmladder.frontier.study import point_state

from ..shared_data import shared_file

ROOT = Path(__file__).resolve().parents[2]
ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
HANG = 600  # a hang guard, never a speed assertion

PRESET = """
name: tiny
overrides: [data.source=file, data.path=corpora/names.txt, data.name=names_small]
seeds: [0, 1]
budgets: {flops: [3.0e8, 1.0e9, 3.0e9], seconds: [0.2]}
calibration_steps: 5
rungs:
  mlp:
    overrides: [mlp=makemore, mlp.optim.schedule.warmup_iters=0]
    sizes: {n_hidden: [16, 32, 64]}
  transformer:
    overrides: [transformer=makemore, transformer.optim.schedule.warmup_iters=0, transformer.model.n_layer=1]
    sizes: {n_embd: [8, 16, 32]}
    seeds: [0]
reference: {bigram: [bigram=kneser_ney, bigram.model.order=3]}
"""


def lmladder(root: Path, *args, **kw) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("LMLADDER_DEBUG", "DVC_STAGE")} | ENV
    cmd = [sys.executable, "-m", "lmladder", "frontier", *map(str, args)]
    return subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, timeout=HANG, **kw)


@pytest.fixture
def project(tmp_path):
    root = tmp_path / "project"
    for d in ("conf", "stages"):
        shutil.copytree(ROOT / d, root / d, ignore=shutil.ignore_patterns("__pycache__"))
    (root / "corpora").mkdir()
    names = shared_file("names.txt").read_text().splitlines()[:3000]
    (root / "corpora" / "names.txt").write_text("\n".join(names) + "\n")
    (root / "tiny.yaml").write_text(PRESET)
    return root


def finished(study: Path) -> dict[str, tuple[str, int]]:
    """Each finished point's metrics.json: (sha256, mtime in ns)."""
    out = {}
    for run in sorted((study / "runs").iterdir()) if (study / "runs").is_dir() else []:
        if run.is_dir() and point_state(run) == "finished":
            m = run / "metrics.json"
            out[run.name] = (hashlib.sha256(m.read_bytes()).hexdigest(), m.stat().st_mtime_ns)
    return out


def run_and_kill(root: Path, study: Path, after: int) -> None:
    """Start `frontier run` in its own session and SIGKILL the whole group once `after` points have finished."""
    env = {k: v for k, v in os.environ.items() if k != "LMLADDER_DEBUG"} | ENV
    cmd = [sys.executable, "-m", "lmladder", "frontier", "run", str(study)]
    with open(study.parent / "run1.log", "w") as log:
        proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + HANG
        while len(finished(study)) < after and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=120)


@pytest.mark.slow
def test_plan_run_kill_run_fit(project):
    study = project / "study"
    r = lmladder(project, "plan", "tiny.yaml", "--out", study)
    assert r.returncode == 0, r.stderr
    plan = json.loads((study / "plan.json").read_text())
    ids = [p["id"] for p in plan["points"]]
    assert len(ids) == 3 * 4 * 2 + 3 * 4 + 1 and plan["calibration"]["cores"]  # mlp x 2 seeds, gpt x 1, bigram
    assert "runs planned" in r.stdout and "estimated on this machine" in r.stdout

    run_and_kill(project, study, after=4)
    before = finished(study)
    assert 4 <= len(before) < len(ids), (project / "run1.log").read_text()[-2000:]

    r = lmladder(project, "run", study, "--launcher", "joblib", "--jobs", "2")
    assert r.returncode == 0, r.stderr[-3000:]
    after = finished(study)
    assert set(after) == set(ids)
    assert {k: after[k] for k in before} == before  # not one finished point redone
    r = lmladder(project, "run", study)
    assert r.returncode == 0 and "all 37 points finished" in r.stdout

    for out in ("fitA", "fitB"):
        r = lmladder(project, "fit", study, "--out", study / out, "--bootstrap", "30")
        assert r.returncode == 0, r.stderr[-3000:]
    a, b = sorted((study / "fitA").iterdir()), sorted((study / "fitB").iterdir())
    assert [p.name for p in a] == [p.name for p in b]
    assert all(x.read_bytes() == y.read_bytes() for x, y in zip(a, b, strict=True))  # the PNGs included
    names = {p.name for p in a}
    assert {"runs.csv", "report.md", "metrics.json", "frontier_flops.png", "frontier_seconds.png"} <= names
    assert {"isoflops_mlp.png", "isoseconds_transformer.png", "profiles.csv", "laws.csv", "holdout.csv"} <= names
    report = (study / "fitA" / "report.md").read_text()
    for section in ("Compute frontiers", "isoFLOP", "Power laws", "Parametric law", "Held-out check"):
        assert section in report
    rows = (study / "fitA" / "runs.csv").read_text().splitlines()
    assert len(rows) == 1 + len(ids) and all(",ok," in row for row in rows[1:])
    metrics = json.loads((study / "fitA" / "metrics.json").read_text())
    assert metrics["runs"]["ok"] == len(ids) and "bigram" in metrics["references"]


@pytest.mark.slow
def test_mpi_launcher_runs_each_point_on_ranks(project):
    mpiexec = Path(sys.executable).parent / "mpiexec"
    if not mpiexec.exists():
        pytest.skip("no mpiexec beside python (pip install -e '.[mpi]')")
    one = PRESET.replace("seeds: [0, 1]", "seeds: [0]").replace("[3.0e8, 1.0e9, 3.0e9], seconds: [0.2]", "[1.0e9]")
    (project / "one.yaml").write_text(one.replace("sizes: {n_hidden: [16, 32, 64]}", "sizes: {n_hidden: [16]}"))
    study = project / "mpi"
    assert lmladder(project, "plan", "one.yaml", "--out", study).returncode == 0
    r = lmladder(project, "run", study, "--launcher", "mpi", "--ranks", "2")
    assert r.returncode == 0, r.stderr[-3000:]
    assert all(point_state(p) == "finished" for p in (study / "runs").iterdir() if p.is_dir())
