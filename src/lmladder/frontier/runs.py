"""The runs a fit reads, one row each (frontier/runs.csv), from their own files: the checkpoint's metadata (rung,
model config, data, seed, step), metrics.json (exact val NLL and bits per character), timing.json (tokens trained,
training seconds) and, for a point of a study, point.json (its budget, the commit it ran with, and for a cool-down
branch the step it went on from its stable run: its timing.json counts those steps too, branches.py).

A study folder (plan.json) contributes every point of its plan, run or not; any other folder every run below it
(Hydra sweep jobs, the DVC layout outputs/<rung>/seed<N>). All runs must come from one corpus and tokenizer: the same
data settings and, where their checkpoints record it, the same sha256 of the corpus text."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from ..data.config import from_stored as stored_data
from ..io import CheckpointError, path_kind, read_checkpoint_meta, read_user_file
from ..models import rung_class
from ..reports.readback import not_finite, numbers, run_metrics
from .preset import FrontierError
from .study import PLAN, POINT, RUNS, load_plan

CONVENTIONS = {"params": "N_params", "non_embedding": "N_nonemb", "matmul": "N_matmul"}
COLUMNS = [
    "job", "point", "status", "error", "rung", "tokenizer", "size", *CONVENTIONS.values(), "flops_per_token",
    "kind", "budget", "seed", "step", "tokens", "epochs", "flops", "seconds", "val_nll", "val_bpc", "commit",
    "branch_step",
]  # fmt: skip
FIX = "re-run that point (`lmladder frontier run`), or move its folder out of the fit"
NOT_TRAINING = ("prepare", "evaluate", "check")  # stages whose job folders hold no run


def read_runs(sources: list[Path], train_tokens: Callable[[dict], int]) -> tuple[pd.DataFrame, dict[str, Any]]:
    """(runs table, corpus) from study folders and sweep folders; `train_tokens(data config)` counts the train
    targets of a corpus no plan recorded (the caller prepares it). The corpus: its data settings, train tokens
    and the runs whose checkpoints record no sha256 of its text (`undigested`, trained before they did)."""
    rows, seen, planned_tokens = [], set(), None
    for src in sources:
        if path_kind(src) != "a directory":
            raise FrontierError(f"{src} is not a folder ({path_kind(src)}); give a study folder or a sweep folder")
        if (src / PLAN).is_file():
            plan = load_plan(src)
            planned_tokens = plan.get("train_tokens")
            jobs = [(src / RUNS / p["id"], p) for p in plan["points"]]
        else:
            jobs = [(j, None) for j in _run_folders(src)]
        for job, point in jobs:
            if job.resolve() not in seen:
                seen.add(job.resolve())
                rows.append(_row(job, point))
    if not rows:
        raise FrontierError(f"no runs under {', '.join(map(str, sources))}; give a study folder or a sweep folder")
    corpus = _one_corpus(rows)
    table = pd.DataFrame([{k: r.get(k) for k in COLUMNS} for r in rows], columns=COLUMNS)
    _label_sizes(table, rows)
    U = planned_tokens if planned_tokens else (train_tokens(corpus) if corpus else math.nan)
    table["epochs"] = table["tokens"] / U
    table["branch_step"] = pd.to_numeric(table["branch_step"]).astype("Int64")  # a step, or empty: not a branch
    old = [r["job"] for r in rows if r.get("_model") is not None and not r.get("_digest")]  # see _one_text
    return _size_fields(table), {"data": corpus, "train_tokens": U, "undigested": old}


def _run_folders(root: Path) -> list[Path]:
    """Every run below `root`: a folder with a checkpoint, or a training job's status.json (one that failed before
    its first checkpoint); hidden folders (.hydra, .partial) aside."""
    found = {p.parent for p in root.rglob("model.safetensors")}
    for status in root.rglob("status.json"):
        if (_json(status) or {}).get("stage") not in NOT_TRAINING:
            found.add(status.parent)
    return sorted(j for j in found if not any(part.startswith(".") for part in j.relative_to(root).parts))


def _row(job: Path, point: dict | None) -> dict[str, Any]:
    """One run: its identity from the checkpoint (else the plan), its scores, tokens and seconds."""
    info = _json(job / POINT) or {}
    point = point or (info if info.get("config") else None)
    row: dict[str, Any] = {
        "job": str(job),
        "point": (point or info).get("id", ""),
        "commit": ",".join(info.get("commits", [])),
    }
    meta = _meta(job)
    config = (point or {}).get("config", {})
    rung = meta["model"]["rung"] if meta else config.get("rung")
    row |= {
        "rung": rung,
        "seed": meta["seed"] if meta else config.get("seed"),
        "step": meta.get("step") if meta else None,
    }
    row["_model"] = meta["model"]["config"] if meta else None
    data = meta.get("data") if meta else config.get("data")
    row["_data"] = stored_data(data) if isinstance(data, dict) else data  # in today's keys, whoever wrote it
    row["_digest"] = meta.get("corpus_sha256") if meta else None  # None: not run yet, or trained before digests
    row["_size"] = (point or info).get("size")
    for k in ("kind", "budget", "branch_step"):  # a cool-down branch: its tokens, FLOPs and seconds count its trunk's
        row[k] = (point or info).get(k)
    row |= _scores(job)
    if row["_model"] is not None and rung_class(rung).trainable:
        c = rung_class(rung).stored_config(row["_model"]).counts()
        row |= dict(zip(CONVENTIONS.values(), (c.params, c.non_embedding, c.matmul), strict=True))
        row["flops_per_token"] = c.flops_per_token
        row["tokens"] = _tokens(job, row, (point or info).get("tokens_per_step"))
        row["flops"] = c.flops_per_token * row["tokens"]
    elif row["_model"] is not None:
        row["N_params"] = row.pop("_params", math.nan)
    return row


def _scores(job: Path) -> dict[str, Any]:
    """status, error, val NLL and bits per character, seconds and tokenizer from metrics/status/timing files."""
    metrics = _json(job / "metrics.json")
    status = _json(job / "status.json") or {}
    if metrics is None:
        failed = status.get("status") == "failed"
        why = str(status.get("error", "failed")).splitlines()[0] if failed else "not run yet, or not finished"
        return {"status": "failed" if failed else "incomplete", "error": why}
    metrics = run_metrics(job / "metrics.json", metrics, FIX)
    timing = numbers(job / "timing.json", _json(job / "timing.json") or {}, ("train_time_s", "tokens"), FIX)
    out = {"status": "ok", "error": "", "tokenizer": metrics.get("tokenizer"), "_params": metrics.get("params")}
    out |= {"val_nll": metrics["val"].get("nll", math.nan), "val_bpc": metrics["val"].get("bpc", math.nan)}
    complete = not timing.get("timed_from_step")
    out["seconds"] = timing.get("train_time_s", math.nan) if complete else math.nan
    out["_timed_tokens"] = timing.get("tokens") if complete else None
    if bad := not_finite(metrics):
        out |= {"status": "failed", "error": f"metrics.json has {bad}: the run diverged"}
    return out


def _tokens(job: Path, row: dict, per_step: float | None) -> float:
    """Tokens trained: timing.json's count when it timed the whole run, else steps x the planned tokens per step."""
    if row.get("_timed_tokens") is not None:
        return float(row["_timed_tokens"])
    if per_step and row.get("step") is not None and row["status"] == "ok":
        return float(row["step"]) * float(per_step)
    return math.nan


def _meta(job: Path) -> dict | None:
    ckpt = job / "model.safetensors"
    if path_kind(ckpt) == "missing":
        return None
    try:
        meta = read_checkpoint_meta(ckpt)
    except CheckpointError as e:
        raise FrontierError(f"{e}".rstrip(".") + f" (in {job}); {FIX}") from None
    model = meta.get("model")
    if not (isinstance(model, dict) and isinstance(model.get("config"), dict) and isinstance(model.get("rung"), str)):
        raise FrontierError(f"{ckpt} has no model rung and config in its metadata; {FIX}")
    return meta


def _one_corpus(rows: list[dict]) -> dict | None:
    """The one corpus (data config, less where downloads are kept) every run trained on."""
    seen: dict[str, tuple[str, dict]] = {}
    for r in rows:
        if isinstance(r.get("_data"), dict):
            data = {k: v for k, v in r["_data"].items() if k != "raw_dir"}
            seen.setdefault(json.dumps(data, sort_keys=True), (r["job"], data))
    if len(seen) > 1:
        (a, da), (b, db) = list(seen.values())[:2]
        first = ("name", "path", "url", "source", "kind", "tokenizer")  # the differences a user recognises first
        keys = sorted(set(da) | set(db), key=lambda k: (first.index(k) if k in first else len(first), k))
        differ = next(k for k in keys if da.get(k) != db.get(k))
        raise FrontierError(
            f"runs from two corpora: {a} has data.{differ}={da.get(differ)!r}, {b} has {db.get(differ)!r}; "
            "fit one corpus (and tokenizer) at a time: give only its study or sweep folders"
        )
    _one_text(rows)
    return next(iter(seen.values()))[1] if seen else None


def _one_text(rows: list[dict]) -> None:
    """One version of the corpus text: runs of one data.path whose file was edited between them differ only in the
    corpus sha256 their checkpoints record. A run trained before checkpoints recorded it is matched by its data
    settings alone (undigested)."""
    seen: dict[str, str] = {}
    for r in rows:
        if isinstance(r.get("_digest"), str):
            seen.setdefault(r["_digest"], r["job"])
    if len(seen) > 1:
        (da, a), (db, b) = list(seen.items())[:2]
        raise FrontierError(
            f"runs on two versions of the corpus text: {a} trained on one whose sha256 is {da[:12]}, {b} on "
            f"{db[:12]} (the same data settings: the file was edited between them); fit the runs of one version "
            "at a time: give only their study or sweep folders"
        )


def _label_sizes(table: pd.DataFrame, rows: list[dict]) -> None:
    """A planned run's size is its point's; another run's is the model fields that vary among its rung's runs."""
    for rung in table["rung"].dropna().unique():
        idx = [i for i, r in enumerate(rows) if r.get("rung") == rung]
        models = [rows[i]["_model"] or {} for i in idx]
        varying = [k for k in sorted({k for m in models for k in m}) if len({str(m.get(k)) for m in models}) > 1]
        for i, m in zip(idx, models, strict=True):
            table.loc[i, "size"] = rows[i]["_size"] or ",".join(f"{k}={m.get(k)}" for k in varying) or "-"


def _size_fields(table: pd.DataFrame) -> pd.DataFrame:
    """The size label's fields as columns of their own after it (n_layer, n_embd, ...; empty where a rung has none)."""
    labels = [dict(kv.split("=", 1) for kv in str(s).split(",") if "=" in kv) for s in table["size"]]
    names = list(dict.fromkeys(k for lab in labels for k in lab))
    at = table.columns.get_loc("size") + 1
    for j, name in enumerate(names):
        values = pd.to_numeric(pd.Series([lab.get(name) for lab in labels], dtype=object), errors="coerce")
        raw = pd.Series([lab.get(name) for lab in labels], dtype=object)
        column = name if name not in table.columns else f"size_{name}"  # never over a column of the table
        table.insert(at + j, column, values if values.notna().sum() == raw.notna().sum() else raw)
    return table


def _json(path: Path) -> dict | None:
    if path_kind(path) == "missing":
        return None
    raw = read_user_file(path, what=str(path), fix=FIX, error=FrontierError)
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise FrontierError(f"{path} is not JSON (edited, or cut short); {FIX}") from None
    if not isinstance(data, dict):
        raise FrontierError(f"{path} holds a JSON {type(data).__name__}, not an object; {FIX}")
    return data
