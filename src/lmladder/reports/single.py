"""Two single runs as one row of `lmladder compare`: A against B. A side is a run folder (outputs/<rung>/seed<N>, a
Hydra job folder: metrics.json, with units.npz for the paired test) or a checkpoint file with its run's files beside
it. Rows of report tables are matched by their settings, so two different runs would never meet; here both sides
get one label, "<rung A> vs <rung B>", and the paired bootstrap runs over the units both were scored on."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import pandas as pd

from ..inference.units import UNITS_FILE, load_units
from ..io.files import path_kind, read_user_file
from .compare import Table
from .readback import ReportError, run_metrics
from .tables import summarize

FIX = "give a run folder (its metrics.json written by training) or the model.safetensors inside one"


RUN_FILES = ("metrics.json", "status.json", "model.safetensors")  # a run folder holds one, finished, failed or not


def single_run(spec: str) -> Path | None:
    """The run folder `spec` names (itself, or a checkpoint's folder) when it is one run, else None."""
    p = Path(spec)
    kind = path_kind(p)
    if kind == "file" and p.suffix == ".safetensors":
        return p.parent
    if (
        kind == "a directory"
        and any(path_kind(p / name) == "file" for name in RUN_FILES)
        and path_kind(p / "perplexity.csv") == "missing"
    ):
        return p
    return None


def _unfinished(run: Path) -> ReportError:
    """What a run without metrics.json is: one that failed (its status.json says why) or one not finished."""
    status = {}
    with contextlib.suppress(OSError, ValueError, ReportError):
        status = json.loads(read_user_file(run / "status.json", what=str(run), fix=FIX, error=ReportError))
    if isinstance(status, dict) and status.get("status") == "failed":
        why = str(status.get("error") or "no reason recorded").splitlines()[0][:200]
        return ReportError(
            f"{run} is a run that failed ({why}), so it has no scores to compare; fix that and train it again, or "
            "compare finished runs"
        )
    return ReportError(
        f"{run} is a run that has not finished (no metrics.json yet); let it finish (resume=true continues it), or "
        "compare finished runs"
    )


def _row(run: Path, label: str) -> tuple[dict, dict]:
    path = run / "metrics.json"
    if path_kind(path) != "file":
        raise _unfinished(run)
    try:
        raw = json.loads(read_user_file(path, what=str(path), fix=FIX, error=ReportError))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ReportError(f"{path} is not valid JSON ({e}); {FIX}") from None
    m = run_metrics(path, raw if isinstance(raw, dict) else {}, FIX)
    row = {"runs": label, "job": str(run), "status": "ok", "params": m.get("params")}
    for split in ("val", "test"):
        row |= {f"{split}_{k}": v for k, v in m.get(split, {}).items() if k != "tokens"}
    units = {}
    if path_kind(run / UNITS_FILE) == "file":
        units = load_units(run / UNITS_FILE, metrics={s: m[s] for s in ("val", "test") if s in m})
    return row, units


def load_pair(a: Path, b: Path) -> tuple[Table, Table]:
    """(A, B) as one-row tables under one label, each with its unit scores when the run has them."""
    rungs = [_rung(r) for r in (a, b)]
    label = f"{rungs[0]} vs {rungs[1]}" if rungs[0] != rungs[1] else f"{rungs[0]} ({a.name} vs {b.name})"
    out = []
    for run in (a, b):
        row, units = _row(run, label)
        summary = summarize(pd.DataFrame([row]), ["runs"])
        out.append(Table(summary, ["runs"], str(run), {label: [units]} if units else {}))
    return out[0], out[1]


def _rung(run: Path) -> str:
    try:
        return str(json.loads((run / "metrics.json").read_text(encoding="utf-8")).get("rung") or run.name)
    except (OSError, ValueError, AttributeError):
        return run.name
