"""A study's folder: what `lmladder frontier plan` writes and `run` launches from.

    <study>/plan.json                      the grid: every point with its complete run config (plan.py)
    <study>/hydra/frontier_point/<id>.yaml  each pending point as a Hydra config (written at each launch)
    <study>/runs/<id>/                      each point's ordinary run folder, with point.json (what it is, the commit)
    <study>/frontier/                       what `lmladder frontier fit` writes

A point is finished when its metrics.json exists (a run writes it last); one with a checkpoint continues from it
(resume=true); the others start over. So a killed `run` started again redoes no finished point."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import shutil
import sys
from pathlib import Path
from typing import Any

import yaml

from ..io import atomic_write_json, atomic_write_text, folder_lock, path_kind, read_user_file
from ..models import rung_class
from .preset import FrontierError

PLAN, POINT, RUNS, GROUP = "plan.json", "point.json", "runs", "frontier_point"
PLAN_VERSION = 1
# launcher -> the Hydra overrides that pick it (conf/hydra/launcher); mpi: one mpiexec per point, in turn
LAUNCHERS = {
    "local": [],
    "joblib": ["hydra/launcher=joblib_2"],
    "slurm": ["hydra/launcher=slurm_cpu"],
    "slurm_local": ["hydra/launcher=slurm_cpu_local"],
    "mpi": None,
}
# launcher -> (the Hydra plugin it needs, the extra of pyproject.toml that installs it)
PLUGINS = {
    "joblib": ("hydra_plugins.hydra_joblib_launcher", "joblib"),
    "slurm": ("hydra_plugins.hydra_submitit_launcher", "slurm"),
    "slurm_local": ("hydra_plugins.hydra_submitit_launcher", "slurm"),
}
POINT_KEYS = ("id", "rung", "size", "seed", "kind", "budget", "max_iters", "config")


def check_unplanned(study: Path) -> None:
    """A study folder is planned once: its plan is never replaced (its runs follow it), and only into a new or
    empty folder."""
    if path_kind(study / PLAN) != "missing":
        raise FrontierError(
            f"{study} already holds a plan; continue it with `lmladder frontier run {study}`, or give another "
            "--out (or delete that folder) to plan again"
        )
    if path_kind(study) == "a directory" and any(study.iterdir()):  # a study's runs and fits go in: its own folder
        raise FrontierError(
            f"{study} is not empty and holds no plan; a study needs a folder of its own: give a new --out"
        )


def write_plan(study: Path, plan: dict[str, Any]) -> Path:
    """plan.json into a new study folder."""
    check_unplanned(study)
    atomic_write_json(study / PLAN, {"version": PLAN_VERSION, **plan})
    return study / PLAN


def study_lock(study: Path) -> contextlib.AbstractContextManager[None]:
    """Held by `lmladder frontier run` for its whole launch: a second run of the study at once would launch the same
    points into the same folders, and each would find the other's runs in its way."""

    def busy(owner: str) -> FrontierError:
        return FrontierError(
            f"{study} is being run by another `lmladder frontier run` (process {owner}); wait for it to end, then "
            f"run `lmladder frontier run {study}` again to go on with whatever is left"
        )

    return folder_lock(study, busy)


def load_plan(study: Path) -> dict[str, Any]:
    """The study's plan.json, checked: a version this lmladder writes and every point with its fields."""
    path = study / PLAN
    fix = f"plan the study first: lmladder frontier plan conf/frontier/<name>.yaml --out {study}"
    if path_kind(study) != "a directory":
        raise FrontierError(f"{study} is not a study folder ({path_kind(study)}); {fix}")
    if path_kind(path) == "missing":
        raise FrontierError(f"{study} has no {PLAN}; {fix}")
    raw = read_user_file(path, what=str(path), fix=fix, error=FrontierError)
    try:
        plan = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        plan = None
    points = plan.get("points") if isinstance(plan, dict) else None
    ok = isinstance(points, list) and all(isinstance(p, dict) and set(POINT_KEYS) <= set(p) for p in points)
    if not ok or plan.get("version") != PLAN_VERSION:
        raise FrontierError(f"{path} is not a plan this lmladder wrote (edited or from another version); {fix}")
    return plan


def point_state(run_dir: Path) -> str:
    """finished | failed | partial (a checkpoint to continue) | pending."""
    if (run_dir / "metrics.json").is_file():
        return "finished"
    status = run_dir / "status.json"
    if status.is_file():
        try:
            if json.loads(status.read_text(encoding="utf-8")).get("status") == "failed":
                return "failed"
        except (OSError, ValueError, AttributeError):
            pass
    return "partial" if (run_dir / "model.safetensors").is_file() else "pending"


def states(study: Path, plan: dict[str, Any]) -> dict[str, str]:
    return {p["id"]: point_state(study / RUNS / p["id"]) for p in plan["points"]}


def stage_points(study: Path, plan: dict[str, Any], ids: list[str], commit: str) -> None:
    """Each point to launch as a Hydra config (resume=true where a checkpoint waits), and its point.json: what the
    point is and the code it ran with (each launch's commit, in order)."""
    by_id = {p["id"]: p for p in plan["points"]}
    for pid in ids:
        p, run = by_id[pid], study / RUNS / pid
        run.mkdir(parents=True, exist_ok=True)
        config = {**p["config"], "resume": (run / "model.safetensors").is_file(), "hydra": {"sweep": {"subdir": pid}}}
        text = "# @package _global_\n# written by lmladder frontier run from plan.json\n"
        atomic_write_text(study / "hydra" / GROUP / f"{pid}.yaml", text + yaml.safe_dump(config, sort_keys=False))
        commits = [str(c) for c in _json(run / POINT).get("commits", [])]
        if commits[-1:] != [commit]:
            commits.append(commit)
        info = {k: v for k, v in p.items() if k != "config"}
        extra = {"train_tokens": plan.get("train_tokens"), "calibration": plan.get("calibration"), "commits": commits}
        atomic_write_json(run / POINT, {**info, **extra})


def launcher_problem(launcher: str) -> str | None:
    """Why `launcher` cannot start here, as a message naming the fix (its plugin, SLURM, mpiexec), or None."""
    plugin, extra = PLUGINS.get(launcher, (None, None))
    if plugin and importlib.util.find_spec(plugin) is None:
        return f"--launcher {launcher} needs its Hydra plugin; install it: pip install -e '.[{extra}]'"
    if launcher == "slurm" and not (shutil.which("sbatch") and shutil.which("srun")):
        return (
            "--launcher slurm submits each point with SLURM's sbatch and srun, and this machine has neither on its "
            "PATH (not a SLURM cluster); run it on the cluster's login node, or use --launcher local, joblib or "
            "slurm_local here"
        )
    if launcher == "mpi" and _mpiexec() is None:
        return "--launcher mpi needs mpiexec, found neither beside Python nor on PATH; pip install -e '.[mpi]'"
    return None


def _mpiexec() -> str | None:
    """The mpich wheel's mpiexec beside the interpreter (a virtual environment not activated), else PATH's."""
    beside = Path(sys.executable).parent / "mpiexec"
    return str(beside) if beside.exists() else shutil.which("mpiexec")


def launch_argv(
    study: Path, points: list[dict], launcher: str, *, jobs: int, ranks: int, extra: list[str]
) -> list[list[str]]:
    """The command lines that run `points` (plan.json's): one Hydra sweep over them, or one mpiexec per point (a
    counted rung, which has nothing to share among ranks, as one plain process)."""
    hydra_dir = str((study / "hydra").absolute())
    train = [sys.executable, "stages/train.py"]
    if launcher == "mpi":
        runs = (study / RUNS).absolute()
        ranked = [_mpiexec() or "mpiexec", "-n", str(ranks)]
        return [
            [*(ranked if rung_class(p["rung"]).trainable else []), *train, "--config-dir", hydra_dir,
             f"+{GROUP}={p['id']}", f"hydra.run.dir={runs / p['id']}", *extra]
            for p in points
        ]  # fmt: skip
    chosen = [*LAUNCHERS[launcher], *([f"hydra.launcher.n_jobs={jobs}"] if launcher == "joblib" else [])]
    sweep = f"hydra.sweep.dir={(study / RUNS).absolute()}"
    ids = ",".join(p["id"] for p in points)
    return [[*train, "-m", "--config-dir", hydra_dir, f"+{GROUP}={ids}", sweep, *chosen, *extra]]


def _json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
