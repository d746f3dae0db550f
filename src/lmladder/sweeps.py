"""Collect training runs for `lmladder report`: the job folders of a Hydra sweep (`.hydra/overrides.yaml` in each) or
the DVC pipeline's `outputs/<rung>/seed<N>/`, as one row per job with its settings, seed, status and scores.

A configuration is a job's overrides minus `seed`; the overrides that differ between jobs become the table's columns
and the ones every job shares are reported once. Failed and incomplete jobs stay in the table with NaN scores, so a
report shows them instead of silently counting fewer seeds."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import yaml

from .errors import LmladderError
from .models import LADDER
from .report import run_row

MISSING = "default"  # shown when a job did not override a key that other jobs sweep
INCOMPLETE = "no metrics.json: the job crashed, was killed or is still running (see the .log in its folder)"


class ReportError(LmladderError, ValueError):
    """A folder holds no runs lmladder can read; the message names the folder and what was expected."""


@dataclass
class Runs:
    table: pd.DataFrame  # one row per job: by..., seed, status, error, job, scores (NaN unless status == "ok")
    by: list[str]  # the columns that make a configuration
    fixed: dict[str, str] = field(default_factory=dict)  # overrides shared by every job
    curves: dict[str, pd.DataFrame] = field(default_factory=dict)  # eval_log.tsv of each ok job, by label
    groups: dict[str, str] = field(default_factory=dict)  # curve label -> configuration label (one colour each)
    layout: str = "hydra"  # hydra | dvc


def collect(root: str | Path) -> Runs:
    """Every run below `root`: the DVC layout if root has outputs/<rung>/seed<N>, else all Hydra job folders."""
    root = Path(root)
    if not root.is_dir():
        raise ReportError(
            f"{root} is not a folder; give a sweep folder (outputs/multirun/<date>/<time>) or the pipeline's outputs/"
        )
    dvc_jobs = [p for r in LADDER for p in sorted((root / r).glob("seed*"), key=_natural) if p.is_dir()]
    if dvc_jobs:
        return _collect_dvc(root, dvc_jobs)
    jobs = sorted({p.parent.parent for p in root.rglob("overrides.yaml") if p.parent.name == ".hydra"}, key=_natural)
    jobs = [j for j in jobs if _stage_name(j) not in ("prepare", "evaluate")]  # not training jobs
    if not jobs:
        raise ReportError(
            f"no runs under {root}: expected Hydra job folders with .hydra/overrides.yaml "
            "(outputs/multirun/<date>/<time>) or outputs/<rung>/seed<N>/metrics.json; run a sweep first"
        )
    return _collect_hydra(root, jobs)


def _natural(p: Path) -> list:
    # job folders 0, 1, ..., 10 in numeric order
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", str(p))]


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None  # absent, or cut short by a killed job: treated as missing


def _read_yaml(path: Path):
    try:
        return yaml.load(path.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except (OSError, yaml.YAMLError):
        return None


def _stage_name(job: Path) -> str:
    status = _read_json(job / "status.json") or {}
    if status.get("stage"):
        return status["stage"]
    hydra = _read_yaml(job / ".hydra" / "hydra.yaml") or {}
    name = str(hydra.get("hydra", {}).get("job", {}).get("name", "?"))
    return name.removeprefix("train_")


def _status(job: Path) -> tuple[str, str, dict]:
    """('ok' | 'failed' | 'incomplete', error, metrics)."""
    st = _read_json(job / "status.json") or {}
    metrics = _read_json(job / "metrics.json")
    if st.get("status") == "failed":
        return "failed", str(st.get("error", "failed (no message)")).splitlines()[0], {}
    if metrics is None:
        return "incomplete", INCOMPLETE, {}
    return "ok", "", {**metrics, **(_read_json(job / "timing.json") or {})}


def _parse_overrides(lines) -> dict[str, str]:
    out = {}
    for ov in lines or []:
        key, sep, value = str(ov).partition("=")
        out[key.lstrip("+")] = value if sep else "(deleted)"
    return out


def _short_names(keys: list[str]) -> dict[str, str]:
    """transformer.model.n_layer -> n_layer: the shortest dotted suffix that is still unique among the keys."""
    names = {}
    for k in keys:
        parts = k.split(".")
        for i in range(len(parts) - 1, -1, -1):
            cand = ".".join(parts[i:])
            if sum(1 for o in keys if o == cand or o.endswith("." + cand)) == 1:
                names[k] = cand
                break
        else:
            names[k] = k
    return names


def _numeric(col: pd.Series) -> pd.Series:
    conv = pd.to_numeric(col, errors="coerce")
    return conv if conv.notna().all() else col


def _label(row: dict, by: list[str]) -> str:
    if by == ["rung"] or by == ["stage"]:
        return str(row[by[0]])
    return ", ".join(f"{b}={row[b]}" for b in by)


def _collect_hydra(root: Path, jobs: list[Path]) -> Runs:
    overrides = [_parse_overrides(_read_yaml(j / ".hydra" / "overrides.yaml")) for j in jobs]
    stages = [_stage_name(j) for j in jobs]
    keys: list[str] = []
    for ov in overrides:
        keys += [k for k in ov if k != "seed" and k not in keys]
    swept = [k for k in keys if len({ov.get(k, MISSING) for ov in overrides}) > 1]
    fixed = {k: overrides[0][k] for k in keys if k not in swept}
    short = _short_names(swept)
    by = (["stage"] if len(set(stages)) > 1 or not swept else []) + [short[k] for k in swept]

    rows, metrics_of = [], []
    for job, ov, stage in zip(jobs, overrides, stages, strict=True):
        status, error, metrics = _status(job)
        seed = ov.get("seed", metrics.get("seed"))
        if seed is None:  # a failed job never wrote metrics.json: its composed config still has the seed
            seed = (_read_yaml(job / ".hydra" / "config.yaml") or {}).get("seed")
        labels = {"stage": stage} if "stage" in by else {}
        labels |= {short[k]: ov.get(k, MISSING) for k in swept}
        rows.append(run_row(metrics, **labels, seed=seed, status=status, error=error, job=_rel(job, root)))
        metrics_of.append(job if status == "ok" else None)
    table = pd.DataFrame(rows)
    for c in [*by, "seed"]:
        table[c] = _numeric(table[c])
    runs = Runs(table, by, fixed)
    for i, job in enumerate(metrics_of):
        if job is not None:
            _add_curve(runs, job, table.iloc[i].to_dict())
    return runs


def _collect_dvc(root: Path, jobs: list[Path]) -> Runs:
    rows = []
    runs = Runs(pd.DataFrame(), ["rung"], layout="dvc")
    for job in jobs:
        status, error, metrics = _status(job)
        seed = job.name.removeprefix("seed")
        row = run_row(
            metrics, rung=job.parent.name, seed=int(seed) if seed.isdigit() else seed, status=status, error=error
        )
        row["job"] = _rel(job, root)
        rows.append(row)
        if status == "ok":
            _add_curve(runs, job, row)
    runs.table = pd.DataFrame(rows)
    return runs


def _add_curve(runs: Runs, job: Path, row: dict) -> None:
    log = job / "eval_log.tsv"
    if not log.exists():  # the count models have no training curve
        return
    try:
        df = pd.read_csv(log, sep="\t")
    except (OSError, ValueError, pd.errors.EmptyDataError):
        return
    if {"step", "val_loss"} <= set(df.columns):
        group = _label(row, runs.by)
        runs.curves[f"{group} seed {row['seed']}"] = df
        runs.groups[f"{group} seed {row['seed']}"] = group


def _rel(job: Path, root: Path) -> str:
    try:
        return str(job.relative_to(root)) or "."
    except ValueError:
        return str(job)
