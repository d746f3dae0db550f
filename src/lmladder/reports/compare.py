"""`lmladder compare A B`: two perplexity tables side by side, row by row, with deltas, and each difference judged
against the seed spread (|Δ mean| ≤ max(std A, std B) is "within noise").

A side is a report CSV (`perplexity.csv` from `lmladder report` or the evaluate stage, with the timing table
`timing.csv` beside it) or a folder holding one, a sweep folder or `outputs/` (reported on the fly), or `REV:PATH`
for a git revision or DVC experiment (read through DVC, so DVC-tracked files come from the cache). `REV:` alone
means REV:outputs/reports/perplexity.csv. A report side brings its unit scores (units/ beside runs.csv) for the
paired test, a `REV:` side too: read at that revision from the DVC cache."""

from __future__ import annotations

import io
import json
import posixpath
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..io.files import path_kind, read_user_file
from .collect import HEALTH, collect, settings
from .names import METRICS, TIMINGS
from .paired import Grouped, grouped, read_report_units
from .readback import ReportError, brief, number, numeric_columns, summary_rows
from .tables import pm, summarize

DEFAULT_PATH = "outputs/reports/perplexity.csv"
REPORT_FILES = ("perplexity.csv", "report/perplexity.csv", "reports/perplexity.csv")  # looked for in a folder side
HIGHER_IS_BETTER = {"tokens_per_s"}
NEUTRAL = {"params"}  # a different size is neither better nor worse
# report-table columns that hold numbers (also with _std, _lo or _hi appended); the others are labels
NUMERIC = {*METRICS, "novelty", *HEALTH, "n", "failed", "prev_delta", "prev_p"}
TABLE_FIX = "give a perplexity.csv, runs.csv or the evaluate stage's metrics.json"
REWRITE = "re-run `lmladder report` or the evaluate stage"  # what writes a report's tables


@dataclass
class Table:
    summary: pd.DataFrame  # one row per configuration: by..., n, score, score_std, ...
    by: list[str]
    source: str
    units: Grouped = field(default_factory=dict)  # setting label -> each seed's unit scores (paired.py)


def load(spec: str, *, repo: str | Path = ".", units: bool = True) -> Table:
    """A report table from a path (CSV, JSON or folder) or from `REV:PATH` (git revision or DVC experiment);
    `units=False`: without the unit scores of a report or revision (a broken one there cannot be deleted)."""
    path = Path(spec)
    kind = path_kind(path)
    if kind in ("file", "a directory"):
        return _from_path(path, spec, units)
    if kind != "missing":
        raise ReportError(f"{spec} is {kind}; give a report folder or CSV, a sweep folder, or REV:PATH")
    if ":" in spec:
        rev, _, rel = spec.partition(":")
        rel = rel or DEFAULT_PATH
        if not rel.endswith((".csv", ".json")):
            rel = rel.rstrip("/") + "/perplexity.csv"
        table = _from_text(_read_rev(rev, rel, repo), rel, spec)
        table.units = _rev_units(rev, rel, repo, table.by) if units else {}
        return table
    raise ReportError(
        f"{spec!r} is neither a file/folder nor REV:PATH; give a report folder or CSV, a sweep folder, "
        "or e.g. HEAD:outputs/reports/perplexity.csv (an experiment name works as REV)"
    )


def _from_path(path: Path, spec: str, units: bool = True) -> Table:
    found = [p for p in (path, *(path / c for c in REPORT_FILES)) if p.is_file()]
    if not found:  # a sweep folder or outputs/ with no report yet: summarize it now (timings included)
        runs = collect(path)
        return Table(summarize(runs.table, runs.by), runs.by, spec, grouped(runs.table, runs.by, runs.units))
    table = _from_text(_read(found[0]), found[0].name, spec)
    runs_csv = found[0].with_name("runs.csv")
    if units and (found[0].parent / "units").is_dir() and runs_csv.is_file():  # a report written with unit scores
        runs = _runs(_read(runs_csv), str(runs_csv))
        if {*table.by, "job"} <= set(runs):  # labelled as the table's rows are (its `by` includes the tokenizer column)
            table.units = grouped(runs, table.by, read_report_units(runs, found[0].parent))
    timing = found[0].with_name("timing.csv")  # wall clock: kept beside the report, never in git or DVC
    if timing.is_file() and timing != found[0]:
        t = _from_text(_read(timing), timing.name, spec)
        if t.by == table.by:
            table.summary = table.summary.merge(t.summary.drop(columns="n"), on=table.by, how="left")
    return table


def _read(path: Path) -> str:
    fix = TABLE_FIX
    raw = read_user_file(path, what=str(path), fix=fix, error=ReportError)
    if not raw.strip():
        raise ReportError(f"{path} is empty; {fix}")
    bad = raw.find(b"\0")  # UTF-16 or binary data: nothing pandas should guess a table from
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        bad = e.start if bad < 0 else min(bad, e.start)
    if bad >= 0:
        what = f"a binary file, not a UTF-8 text table (byte {raw[bad]:#04x} at offset {bad})"
        raise ReportError(f"{path} is {what}; {fix}")
    return text


def _read_rev(rev: str, rel: str, repo: str | Path) -> str:
    """git show for files git tracks (fast, any git repo); DVC for its outputs and for experiment names."""
    import subprocess

    try:
        r = subprocess.run(["git", "show", f"{rev}:{rel}"], cwd=repo, capture_output=True, text=True, check=False)
        if r.returncode == 0:
            return r.stdout
    except OSError:  # no git on PATH: DVC may still read it
        pass
    import dvc.api

    try:
        return dvc.api.read(rel, repo=str(repo), rev=rev)
    except Exception as e:  # dvc raises many types here (bad rev, missing path, object not in cache, no repo)
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ReportError(
            f"cannot read {rel} at {rev!r} ({msg}); check the name with `git log` or `dvc exp list`, "
            "and that the experiment ran in this repository (its outputs must be in the DVC cache)"
        ) from None


def _rev_units(rev: str, rel: str, repo: str | Path, by: list[str]) -> Grouped:
    """The unit scores beside the table at REV, checked as a local report's are; units/ is a DVC output, so they
    come from the DVC cache. A revision without units/ or runs.csv there (older commits) has none."""
    import dvc.api
    from dvc.exceptions import DvcException

    folder = posixpath.dirname(rel)
    units, runs_rel = posixpath.join(folder, "units"), posixpath.join(folder, "runs.csv")
    fs = dvc.api.DVCFileSystem(str(repo), rev=rev)
    try:
        if not (fs.isdir(units) and fs.isfile(runs_rel)):
            return {}
        runs = _runs(fs.cat_file(runs_rel).decode("utf-8", "replace"), f"{rev}:{runs_rel}")
        if not {*by, "job"} <= set(runs):  # labelled as the table's rows are, as in _from_path
            return {}
        have = set(fs.find(units))
        files = {str(j): fs.cat_file(p) for j in runs["job"] if (p := posixpath.join(units, f"{j}.npz")) in have}
    except (OSError, DvcException) as e:  # e.g. listed in git but not in this DVC cache (never pulled here)
        raise ReportError(
            f"cannot read {units} at {rev!r} ({str(e).splitlines()[0] if str(e) else type(e).__name__}); "
            "bring it into the DVC cache with `dvc pull` (`dvc exp pull REMOTE NAME` for an experiment)"
        ) from None
    finally:
        fs.close()
    return grouped(runs, by, read_report_units(runs, Path(f"{rev}:{folder}"), files))


def _runs(text: str, where: str) -> pd.DataFrame:
    try:
        df = pd.read_csv(io.StringIO(text))
    except ValueError as e:  # pandas' parser errors are ValueErrors
        raise ReportError(f"{where} is not a runs table ({str(e).splitlines()[0]}); {REWRITE}") from None
    return numeric_columns(df, where, f"fix that cell, or {REWRITE} to write it again", _numeric(df))


def _from_text(text: str, name: str, spec: str) -> Table:
    where = spec if Path(spec).name == name else f"{spec}: {name}"
    is_json = name.endswith(".json")  # the evaluate stage's metrics.json: {setting: {score: mean, ...}}
    try:
        parsed = json.loads(text) if is_json else pd.read_csv(io.StringIO(text))
    except ValueError as e:  # malformed JSON; pandas' parser errors are ValueErrors too
        what = "malformed JSON: " if isinstance(e, json.JSONDecodeError) else ""
        raise ReportError(f"{where} is not a report table ({what}{str(e).splitlines()[0]}); {TABLE_FIX}") from None
    if is_json:
        return Table(_json_table(parsed, where), ["setting"], spec)
    df = numeric_columns(parsed, where, f"fix that cell, or {REWRITE} to write it again", _numeric(parsed))
    if "n" in df.columns:  # a summary: the configuration columns come before n
        by = list(df.columns[: list(df.columns).index("n")])
        return Table(summary_rows(df, by, where, REWRITE), by, spec)
    if "seed" in df.columns:  # runs.csv: one row per run
        ok = df["status"].eq("ok") if "status" in df else pd.Series(True, index=df.index)
        if "val_nll" in df and len(gap := df.index[ok & df["val_nll"].isna()]):  # a mean would skip it silently
            raise ReportError(
                f"{where}: line {gap[0] + 2} is a finished run with no val_nll; fix that cell, or {REWRITE} to write "
                "it again"
            )
        by = list(df.columns[: list(df.columns).index("seed")])
        return Table(summarize(df, by), by, spec)
    raise ReportError(f"{where} has neither an `n` nor a `seed` column; give a perplexity.csv or runs.csv")


def _is_numeric(column) -> bool:
    return str(column).removesuffix("_std").removesuffix("_lo").removesuffix("_hi") in NUMERIC


def _numeric(df: pd.DataFrame) -> list[str]:
    return [c for c in df.columns if _is_numeric(c)]


def _json_table(data, where: str) -> pd.DataFrame:
    """The evaluate stage's metrics.json, {setting: {score: mean, score_std: std, n: n}}, as a summary table."""
    if isinstance(data, dict) and {"checkpoint", "text"} <= set(data):  # what a reader of TABLE_FIX may try
        raise ReportError(
            f"{where} is what `lmladder evaluate` prints (one checkpoint's scores on one text), not a report table; "
            f"{TABLE_FIX} (outputs/reports/metrics.json)"
        )
    if not isinstance(data, dict) or not data:
        raise ReportError(f"{where} holds {brief(data)}, not an object of settings and their scores; {TABLE_FIX}")
    rows = []
    for setting, scores in data.items():
        if not isinstance(scores, dict):
            raise ReportError(f"{where}: {setting} is {brief(scores)}, not an object of scores; {TABLE_FIX}")
        check = {k: number(v, f"{where}: {setting}.{k}", TABLE_FIX) for k, v in scores.items() if _is_numeric(k)}
        rows.append({"setting": setting, "n": 1, **scores, **check})
    return summary_rows(pd.DataFrame(rows), ["setting"], where, REWRITE, json=True)


def _keys(a: Table, b: Table) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """Align on the configuration columns when both sides have the same ones, else on one `setting` label."""
    if set(a.by) == set(b.by):
        by = list(a.by)
        return a.summary.astype({c: str for c in by}), b.summary.astype({c: str for c in by}), by
    sa, sb = a.summary.copy(), b.summary.copy()
    sa["setting"], sb["setting"] = settings(sa, a.by, sep="/"), settings(sb, b.by, sep="/")
    return sa, sb, ["setting"]


def verdict(metric: str, ma: float, mb: float, sa: float, sb: float, na: int, nb: int) -> str:
    if ma != ma or mb != mb:
        return "failed in A" if ma != ma and mb == mb else "failed in B" if mb != mb and ma == ma else "failed"
    delta = mb - ma
    if abs(delta) <= 1e-6 * abs(ma):  # float32 rounding (e.g. another BLAS thread count), not a difference
        return "same"
    if max(na, nb) < 2:
        return "n=1: no seed spread"
    if abs(delta) <= max(sa, sb):
        return "within noise"
    if metric in NEUTRAL:
        return "different"
    better = delta > 0 if metric in HIGHER_IS_BETTER else delta < 0
    return "B better" if better else "B worse"


def compare(a: Table, b: Table, metrics=("val_nll",)) -> tuple[pd.DataFrame, list[str]]:
    """One row per configuration in A or B: A, B, std, n, Δ = B − A, Δ % and the verdict for each metric."""
    sa, sb, by = _keys(a, b)
    for m in metrics:
        for side, t in (("A", a), ("B", b)):
            if m not in t.summary:
                hint = (
                    "timings are in timing.csv beside a report on this machine (not in git, DVC or metrics.json); "
                    "give report or sweep folders"
                    if m in TIMINGS
                    else f"this table has {', '.join(c for c in METRICS if c in t.summary) or 'no scores'}"
                )
                raise ReportError(f"{side} ({t.source}) has no {m}; {hint}")
    cols = [c for m in metrics for c in (m, m + "_std")] + ["n"]
    # suffix every value column up front: merge() only suffixes the columns both sides have
    left = sa[[*by, *[c for c in cols if c in sa]]].rename(columns={c: f"{c}_A" for c in cols})
    right = sb[[*by, *[c for c in cols if c in sb]]].rename(columns={c: f"{c}_B" for c in cols})
    left, right = left.assign(_ia=range(len(sa))), right.assign(_ib=range(len(sb)))
    merged = left.merge(right, on=by, how="outer", indicator=True)
    merged = merged.sort_values(["_ia", "_ib"], na_position="last").reset_index(drop=True)  # A's order (best first)
    out = merged[by].copy()
    out["n_A"], out["n_B"] = merged["n_A"], merged["n_B"]
    for m in metrics:
        for side in ("A", "B"):
            out[f"{m}_{side}"] = merged[f"{m}_{side}"]
            out[f"{m}_std_{side}"] = merged.get(f"{m}_std_{side}", pd.Series(0.0, index=merged.index)).fillna(0.0)
        out[f"{m}_delta"] = out[f"{m}_B"] - out[f"{m}_A"]
        out[f"{m}_delta_pct"] = 100 * out[f"{m}_delta"] / out[f"{m}_A"].abs()
        out[f"{m}_verdict"] = [
            verdict(m, r[f"{m}_A"], r[f"{m}_B"], r[f"{m}_std_A"], r[f"{m}_std_B"], _n(r["n_A"]), _n(r["n_B"]))
            for _, r in out.iterrows()
        ]
    only = merged["_merge"].map({"left_only": "only in A", "right_only": "only in B", "both": ""})
    for m in metrics:
        out[f"{m}_verdict"] = [o or v for o, v in zip(only, out[f"{m}_verdict"], strict=True)]
    return out, by


def _n(v) -> int:
    return 0 if v != v else int(v)


def _signed(v: float, digits: int) -> str:
    return "—" if v != v else f"{round(v, digits) or 0.0:+.{digits}f}"  # never "-0.0000"


def markdown(table: pd.DataFrame, by: list[str], a: Table, b: Table, metrics=("val_nll",)) -> str:
    show = table[by].copy()
    show["n A"] = table["n_A"].map(_n)
    show["n B"] = table["n_B"].map(_n)
    for m in metrics:
        name = m.replace("_", " ")
        for side in ("A", "B"):
            trip = zip(table[f"{m}_{side}"], table[f"{m}_std_{side}"], table[f"n_{side}"], strict=True)
            show[f"{name} {side}"] = [pm(v, s, _n(n)) for v, s, n in trip]
        show[f"Δ {name}"] = table[f"{m}_delta"].map(lambda v: _signed(v, 4))
        pct = table[f"{m}_delta_pct"].map(lambda v: _signed(v, 2) + "%" if v == v else "—")
        show["Δ %" if len(metrics) == 1 else f"Δ % {name}"] = pct
        show["verdict" if len(metrics) == 1 else f"{name} verdict"] = table[f"{m}_verdict"]
    head = (
        f"# Compare A → B\n\nA: `{a.source}`  \nB: `{b.source}`  \n"
        "Δ = B − A (mean over seeds); *within noise*: |Δ| ≤ max(std A, std B), the seed-to-seed spread.\n\n"
    )
    return head + show.to_markdown(index=False, disable_numparse=True) + "\n"
