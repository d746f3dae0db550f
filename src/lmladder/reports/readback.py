"""Checks on the files a report reads back: a run's metrics.json, timing.json and health.json, Hydra's
.hydra/*.yaml and the cells of CSV tables (eval_log.tsv, a report's perplexity.csv and runs.csv). lmladder wrote
them, but an editor, a crash outside lmladder or another program may have changed them since, so every value is
checked for its type before it enters a table, and a bad one is refused in one line naming the file, field and fix."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from ..errors import LmladderError
from ..io.files import path_kind, read_user_file
from ..io.yaml_text import check_yaml, yaml_reason

SPLIT_SCORES = ("nll", "ppl", "bpc", "bpb")


class ReportError(LmladderError, ValueError):
    """Runs or a report cannot be read; the message names the folder or file and the fix."""


def brief(value) -> str:
    """A value as a message shows it: JSON where it is JSON, cut to 40 characters."""
    text = json.dumps(value) if isinstance(value, str | list | dict | bool) or value is None else str(value)
    return text if len(text) <= 40 else text[:37] + "..."


def number(value, where: str, fix: str) -> int | float:
    """A JSON number as it is (null: NaN, not measured); a string, list, object or boolean is refused."""
    if value is None:
        return math.nan
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ReportError(f"{where} is {brief(value)}, not a number; {fix}")
    try:
        float(value)  # a mean needs it as a float
    except OverflowError:  # an integer too large for one
        raise ReportError(f"{where} is {brief(value)}, too large a number; {fix}") from None
    return value


def numbers(path: Path, data: dict, keys, fix: str, prefix: str = "") -> dict:
    """`data` with each of `keys` it has checked as a number: a flat file such as timing.json or health.json."""
    return {**data, **{k: number(data[k], f"{path}: {prefix}{k}", fix) for k in keys if k in data}}


def run_metrics(path: Path, metrics: dict, fix: str) -> dict:
    """A run's metrics.json with every field a report reads checked: val/test score objects, params, tokenizer
    and samples.novelty."""
    out = numbers(path, metrics, ("params",), fix)
    for split in ("val", "test"):
        scores = metrics.get(split, {})
        if not isinstance(scores, dict):
            raise ReportError(f"{path}: {split} is {brief(scores)}, not an object of scores; {fix}")
        if split in metrics:
            out[split] = numbers(path, scores, (*SPLIT_SCORES, "tokens"), fix, prefix=f"{split}.")
    if not isinstance(metrics.get("tokenizer", ""), str):
        raise ReportError(f"{path}: tokenizer is {brief(metrics['tokenizer'])}, not a string; {fix}")
    if "samples" in metrics:
        samples = metrics["samples"]
        if not isinstance(samples, dict):
            raise ReportError(f"{path}: samples is {brief(samples)}, not an object; {fix}")
        out["samples"] = numbers(path, samples, ("novelty",), fix, prefix="samples.")
    return out


def not_finite(metrics: dict) -> str:
    """ "val.nll=nan" for the first score that is NaN or infinite (a diverged run), else ""."""
    for split in ("val", "test"):
        for k, v in metrics.get(split, {}).items():
            if k in SPLIT_SCORES and not math.isfinite(v):
                return f"{split}.{k}={v}"
    return ""


def read_yaml(path: Path, kind: type, fix: str):
    """One of Hydra's .hydra/*.yaml as `kind` (dict or list), or None when absent; one that cannot be read or
    parsed, or holds another shape, is refused rather than read as empty (the job would be mislabelled)."""
    if path_kind(path) == "missing":
        return None
    raw = read_user_file(path, what=str(path), fix=fix, error=ReportError)
    try:
        text = raw.decode("utf-8")
        check_yaml(text, str(path), ReportError)  # a billion laughs is refused before it is built
        data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except (UnicodeDecodeError, yaml.YAMLError) as e:
        raise ReportError(f"{path} is not readable YAML ({yaml_reason(e)}); {fix}") from None
    if not isinstance(data, kind) or kind is list and not all(isinstance(v, str) for v in data):
        want = "a mapping" if kind is dict else "a list of overrides (strings)"
        raise ReportError(f"{path} holds {brief(data)}, not {want}; {fix}")
    return data


def numeric_columns(df: pd.DataFrame, where: str, fix: str, columns) -> pd.DataFrame:
    """A table read from CSV with `columns` as numbers: an empty cell is NaN (a failed configuration), a cell that
    is text or infinite is refused with its column and line."""
    df = df.copy()
    for c in columns:
        conv = pd.to_numeric(df[c], errors="coerce")
        bad = (conv.isna() & df[c].notna()) | np.isinf(conv.astype(float))
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise ReportError(f"{where}: column {c}, line {i + 2} holds {brief(df[c].iloc[i])}, not a number; {fix}")
        df[c] = conv
    return df


def summary_rows(df: pd.DataFrame, by: list[str], where: str, rewrite: str, json: bool = False) -> pd.DataFrame:
    """A summary table read back (one row per setting: its seed count n, means and spreads *_std): a setting listed
    twice (two tables pasted together: compare would pair each row with the other side's), an n that is not a
    count or a negative spread is refused with its line (`json`: the evaluate stage's metrics.json, by setting).
    `rewrite`: what writes the table again."""
    labels = [", ".join(f"{b}={df[b].iloc[i]}" for b in by) for i in range(len(df))]
    if by and (twice := df.duplicated(by)).any():
        j = int(np.flatnonzero(twice.to_numpy())[0])
        i = labels.index(labels[j])
        raise ReportError(
            f"{where}: lines {i + 2} and {j + 2} are both {labels[j]}; a report table has one row per setting: delete "
            f"one, or {rewrite} to write it again"
        )
    spreads = [c for c in df.columns if str(c).endswith("_std")]
    for c, ok in (("n", lambda v: v >= 0 and v == int(v)), *((c, lambda v: v >= 0) for c in spreads)):
        bad = [i for i, v in enumerate(df[c]) if v == v and not ok(v)] if c in df.columns else []
        if bad:
            i, what = bad[0], "a count of seeds" if c == "n" else "a spread (>= 0)"
            at = f"{df['setting'].iloc[i]}.{c} is" if json else f"column {c}, line {i + 2} holds"
            fix = f"fix that {'value' if json else 'cell'}, or {rewrite} to write it again"
            raise ReportError(f"{where}: {at} {df[c].iloc[i]}, not {what}; {fix}")
    return df
