"""Collect training runs: the DVC pipeline's `outputs/<rung>/seed<N>/` or the job folders of Hydra sweeps
(`.hydra/overrides.yaml` in each), as one row per run with its settings, seed, status, scores and timings.

In a sweep a configuration is a job's overrides minus `seed`; the overrides that differ between jobs become the
table's columns and the ones every job shares are reported once. Failed and incomplete jobs stay in the table with
NaN scores, so a report shows them instead of silently counting fewer seeds."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..inference.units import UNITS_FILE, SplitUnits, load_units
from ..io.files import path_kind, read_user_file
from ..models import ladder
from .names import TIMINGS
from .readback import ReportError, not_finite, numbers, numeric_columns, read_yaml, run_metrics

HEALTH = ("clip_events", "saturated_max", "dead_max", "update_data", "attn_entropy_min")  # health.json
MISSING = "default"  # shown when a job did not override a key that other jobs sweep
INCOMPLETE = (
    "no metrics.json: the job was killed, crashed outside lmladder or is still running (the launcher's output "
    "says which); re-run it, with resume=true to continue from its checkpoint"
)
RUN_FIX = "repair or delete it (the job then counts as incomplete), or re-run the job"
SIDE_FIX = "delete it (the run is then reported without it) or re-run the job"  # timing.json, health.json
HYDRA_FIX = "Hydra wrote it when the job started: re-run the job, or move its folder out to report without it"


@dataclass
class Runs:
    table: pd.DataFrame  # one row per run: by..., seed, status, error, job, SCORES (NaN unless "ok"), params, TIMINGS
    by: list[str]  # the columns that make a configuration
    fixed: dict[str, str] = field(default_factory=dict)  # overrides shared by every job
    curves: dict[str, pd.DataFrame] = field(default_factory=dict)  # "<label>_seed<N>" -> its eval_log.tsv
    groups: dict[str, str] = field(default_factory=dict)  # curve name -> configuration label (one colour each)
    units: dict[str, dict[str, SplitUnits]] = field(default_factory=dict)  # job -> split -> its unit scores


def collect(
    root: str | Path,
    *,
    seeds: Iterable[int] | None = None,
    rungs: Sequence[str] | None = None,
    score: Callable | None = None,
) -> Runs:
    """Every run below `root`: the DVC layout if root has outputs/<rung>/seed<N> (or `seeds` is given), else every
    Hydra job folder. The evaluate stage passes its `seeds`, the `rungs` of its pipeline (default: the whole
    ladder), which name the runs, and `score(job) -> {"val": ..., "test": ...}`, which re-scores the job's
    checkpoint (or returns None to leave the job out); its scores replace metrics.json's."""
    root = Path(root)
    if seeds is not None:
        chosen = ladder() if rungs is None else rungs
        return _collect_dvc(root, [(r, s, root / r / f"seed{s}") for r in chosen for s in seeds], score)
    if not root.is_dir():
        raise ReportError(
            f"{root} is not a folder; give a sweep folder (outputs/multirun/<date>/<time>) or the pipeline's outputs/"
        )
    dvc_jobs = [  # the pipeline's layout, which `publish` (lmladder/app/stage.py) makes from each run's rung and seed
        (r, int(p.name[4:]), p)
        for r in ladder()
        for p in sorted((root / r).glob("seed*"), key=_natural)
        if p.is_dir() and p.name[4:].isdigit()
    ]
    if dvc_jobs:
        return _collect_dvc(root, dvc_jobs, score)
    jobs = sorted({p.parent.parent for p in root.rglob("overrides.yaml") if p.parent.name == ".hydra"}, key=_natural)
    jobs = [j for j in jobs if _job_name(j) not in ("prepare", "evaluate")]  # not training jobs
    if not jobs:
        raise ReportError(
            f"no runs under {root}: expected Hydra job folders with .hydra/overrides.yaml "
            "(outputs/multirun/<date>/<time>) or outputs/<rung>/seed<N>/metrics.json; run a sweep first"
        )
    return _collect_hydra(root, jobs)


def _row(metrics: dict, **labels) -> dict:
    """One run's metrics.json (+ timing.json) flattened into a table row after its labels."""
    row = dict(labels)
    for split in ("val", "test"):
        for k in ("nll", "ppl", "bpc", "bpb"):
            row[f"{split}_{k}"] = metrics.get(split, {}).get(k, math.nan)
    row.setdefault("tokenizer", metrics.get("tokenizer"))  # a swept data.tokenizer keeps its own column
    for k in ("params", *TIMINGS, *HEALTH):
        row[k] = math.nan if metrics.get(k) is None else metrics[k]
    if "samples" in metrics:  # lines corpora: the share of samples that are no train/val/test document
        novelty = metrics["samples"].get("novelty")  # None: no samples were drawn
        row["novelty"] = math.nan if novelty is None else novelty
    return row


def settings(summary: pd.DataFrame, by: Sequence[str], sep: str | None = None) -> list[str]:
    """One label per row: "64" for one column, "n_layer=2, n_embd=64" for several (or values joined by sep)."""
    cols = {b: summary[b].astype(str).tolist() for b in by}  # per column, so 64 never turns into 64.0
    if sep is not None or len(by) == 1:
        return [(sep or "").join(vals) for vals in zip(*cols.values(), strict=True)]
    return [", ".join(f"{b}={v}" for b, v in zip(by, vals, strict=True)) for vals in zip(*cols.values(), strict=True)]


def _natural(p: Path) -> list:
    # job folders 0, 1, ..., 10 in numeric order
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", str(p))]


def _read_json(path: Path, fix: str = RUN_FIX) -> dict | None:
    """None when absent (the job has not written it yet); written atomically, so a malformed one was edited."""
    if path_kind(path) == "missing":
        return None
    raw = read_user_file(path, what=str(path), fix=fix, error=ReportError)
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        reason = str(e).splitlines()[0][:80]
        raise ReportError(f"{path} is malformed, not JSON ({reason}); {fix}") from None
    if not isinstance(data, dict):
        raise ReportError(f"{path} holds a JSON {type(data).__name__}, not an object; {fix}")
    return data


def _job_name(job: Path) -> str:
    """The stage a Hydra job ran: its job name ("train", "prepare", "evaluate")."""
    path = job / ".hydra" / "hydra.yaml"
    hydra = read_yaml(path, dict, HYDRA_FIX) or {}
    job_conf = hydra.get("hydra", {})
    job_conf = job_conf.get("job", {}) if isinstance(job_conf, dict) else None
    if not isinstance(job_conf, dict):
        raise ReportError(f"{path} has no hydra.job mapping; {HYDRA_FIX}")
    return str(job_conf.get("name", "?"))


def _outcome(job: Path, score: Callable | None = None) -> tuple[str, str, dict | None]:
    """('ok' | 'failed' | 'incomplete', error, metrics + timings); metrics None: `score` left the job out."""
    metrics = _read_json(job / "metrics.json")
    metrics = None if metrics is None else run_metrics(job / "metrics.json", metrics, RUN_FIX)
    timing = {}
    for name, keys in (("timing.json", (*TIMINGS, "timed_from_step")), ("health.json", HEALTH)):
        data = _read_json(job / name, SIDE_FIX) or {}  # beside the scores, never among them
        timing |= numbers(job / name, data, keys, SIDE_FIX)
    if timing.get("timed_from_step"):  # resumed without the timing of its first steps: its total is unknown
        timing = {**timing, "train_time_s": math.nan}
    if score is not None:
        fresh = score(job)
        return "ok", "", None if fresh is None else {**(metrics or {}), **timing, **fresh}
    st = _read_json(job / "status.json") or {}
    if st.get("status") == "failed":
        return "failed", str(st.get("error", "failed (no message)")).splitlines()[0], {}
    if metrics is None:
        return "incomplete", INCOMPLETE, {}
    if bad := not_finite(metrics):  # a mean over the other seeds would hide it: listed as failed instead
        return "failed", f"metrics.json has {bad}: the run diverged or the file was edited", {}
    return "ok", "", {**metrics, **timing}


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


def _collect_hydra(root: Path, jobs: list[Path]) -> Runs:
    overrides = [_parse_overrides(read_yaml(j / ".hydra" / "overrides.yaml", list, HYDRA_FIX)) for j in jobs]
    configs = [read_yaml(j / ".hydra" / "config.yaml", dict, HYDRA_FIX) or {} for j in jobs]  # rung and seed
    job_rungs = [str(c.get("rung") or "(no rung)") for c in configs]
    keys: list[str] = []
    for ov in overrides:
        keys += [k for k in ov if k != "seed" and k not in keys]
    varies = [k for k in keys if len({ov.get(k, MISSING) for ov in overrides}) > 1]
    swept = [k for k in varies if k != "rung"]  # a swept `rung` is the rung column itself
    fixed = {k: overrides[0][k] for k in keys if k not in varies}
    short = _short_names(swept)
    by = (["rung"] if len(set(job_rungs)) > 1 or not swept else []) + [short[k] for k in swept]
    runs = Runs(pd.DataFrame(), by, fixed)
    rows = []
    for job, ov, rung, config in zip(jobs, overrides, job_rungs, configs, strict=True):
        status, error, metrics = _outcome(job)
        _add_units(runs, root, job, status, metrics)
        seed = config.get("seed")
        labels = ({"rung": rung} if "rung" in by else {}) | {short[k]: ov.get(k, MISSING) for k in swept}
        rows.append(_row(metrics, **labels, seed=seed, status=status, error=error, job=str(job.relative_to(root))))
    runs.table = pd.DataFrame(rows)
    for c in [*by, "seed"]:
        conv = pd.to_numeric(runs.table[c], errors="coerce")
        runs.table[c] = conv if conv.notna().all() else runs.table[c]
    for job, row in zip(jobs, runs.table.to_dict("records"), strict=True):
        _add_curve(runs, job, row)
    return runs


def _collect_dvc(root: Path, jobs: list[tuple[str, int, Path]], score: Callable | None) -> Runs:
    """One row per (rung, seed, run folder)."""
    runs = Runs(pd.DataFrame(), ["rung"])
    rows = []
    for rung, seed, job in jobs:
        status, error, metrics = _outcome(job, score)
        if score is None:  # a re-scoring caller (the evaluate stage) brings its own fresh units
            _add_units(runs, root, job, status, metrics)
        if metrics is not None:  # None: `score` left the job out
            rows.append(_row(metrics, rung=rung, seed=seed, status=status, error=error, job=str(job.relative_to(root))))
            _add_curve(runs, job, rows[-1])
    runs.table = pd.DataFrame(rows)
    return runs


def _add_units(runs: Runs, root: Path, job: Path, status: str, metrics: dict | None) -> None:
    """The run's units.npz, checked against its metrics.json; runs from before unit files simply have none."""
    if status == "ok" and path_kind(job / UNITS_FILE) != "missing":
        runs.units[str(job.relative_to(root))] = load_units(job / UNITS_FILE, metrics=metrics)


def _add_curve(runs: Runs, job: Path, row: dict) -> None:
    log = job / "eval_log.tsv"
    if row["status"] != "ok" or path_kind(log) != "file":  # the count models have no training curve
        return
    fix = "delete it (the run is then reported without its curve) or re-run the job"
    try:
        df = pd.read_csv(log, sep="\t")
    except (OSError, ValueError) as e:  # EmptyDataError and the parser's errors are ValueErrors
        raise ReportError(f"{log} is not a training log ({str(e).splitlines()[0][:80]}); {fix}") from None
    if {"step", "val_loss"} <= set(df.columns):
        df = numeric_columns(df, str(log), fix, columns=("step", "val_loss"))
        label = str(row["rung"]) if runs.by == ["rung"] else ", ".join(f"{b}={row[b]}" for b in runs.by)
        runs.curves[f"{label}_seed{row['seed']}"] = df
        runs.groups[f"{label}_seed{row['seed']}"] = label
