"""Unit scores in reports and comparisons: intervals for the perplexity table, the paired bootstrap and Welch's
test for `lmladder compare` (the statistics are in significance.py, the unit files in inference/units.py).

A report folder keeps a copy of each run's units as units/<job>.npz beside runs.csv, so a report (also one read
back from git or DVC) carries what its intervals came from. Rows whose runs have no unit files (older runs) get
no interval and no paired test; everything else about them is reported as before."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ..inference.units import FIX, SplitUnits, UnitsError, load_units, save_units
from ..io.files import path_kind
from ..models import ladder
from . import significance as sig
from .collect import settings

SPLITS = ("val", "test")
REV_FIX = "it is stored at that revision: compare without unit scores with --no-units (no intervals, no paired test)"
Grouped = dict[str, list[dict[str, SplitUnits]]]  # setting label -> one {split: units} per seed


def grouped(table: pd.DataFrame, by: Sequence[str], units: dict[str, dict[str, SplitUnits]]) -> Grouped:
    """The unit scores of each configuration's finished runs; a configuration any of whose runs lacks them is left
    out (an interval over some seeds only would claim more than it knows)."""
    ok = table[table["status"].eq("ok")] if "status" in table else table
    out: Grouped = {}
    missing = set()
    for label, job in zip(settings(ok, by, sep="/"), ok["job"].astype(str), strict=True):
        if job in units:
            out.setdefault(label, []).append(units[job])
        else:
            missing.add(label)
    return {k: v for k, v in out.items() if k not in missing}


def write_units(out_dir: Path, units: dict[str, dict[str, SplitUnits]]) -> None:
    for job, u in units.items():
        save_units(out_dir / "units" / f"{job}.npz", u)


def read_report_units(
    runs_csv: pd.DataFrame, folder: Path, files: dict[str, bytes] | None = None
) -> dict[str, dict[str, SplitUnits]]:
    """units/<job>.npz beside a report's runs.csv, each checked against the NLL that runs.csv records. `files`
    (job -> bytes) instead of the folder's: a report read at a git revision, `folder` naming it."""
    out = {}
    for r in runs_csv.to_dict("records"):
        job = str(r.get("job"))
        path = folder / "units" / f"{job}.npz"
        raw = None if files is None else files.get(job)
        if raw is not None or files is None and path_kind(path) != "missing":
            metrics = {s: {"nll": r.get(f"{s}_nll")} for s in SPLITS}
            out[job] = load_units(path, metrics=metrics, raw=raw, fix=REV_FIX if files is not None else FIX)
    return out


def _pooled(runs: list[dict[str, SplitUnits]], split: str, where: str) -> tuple[np.ndarray, str] | None:
    have = [r[split] for r in runs if split in r]
    if len(have) < len(runs) or not have:
        return None
    if len({(u.digest, len(u.nll)) for u in have}) > 1:
        raise UnitsError(
            f"the seeds of {where} were scored on different {split} texts (unit digests differ); "
            "report or compare only runs prepared from the same data"
        )
    return sig.pool(have), have[0].digest


def add_intervals(summary: pd.DataFrame, by: Sequence[str], units: Grouped) -> pd.DataFrame:
    """Columns {split}_nll_lo/_hi (95% bootstrap interval, pooled over seeds) and, against the previous row in
    ladder order (table order for sweeps), vs_prev, prev_delta (val NLL, this − previous) and prev_p."""
    labels = settings(summary, by, sep="/")
    out = summary.copy()
    for split in SPLITS:
        cis = [_ci(units.get(lab), split, lab) for lab in labels]
        out[f"{split}_nll_lo"], out[f"{split}_nll_hi"] = [c[0] for c in cis], [c[1] for c in cis]
    order = list(range(len(out)))
    if list(by) == ["rung"]:
        rank = {r: i for i, r in enumerate(ladder())}
        order.sort(key=lambda i: rank.get(str(out["rung"].iloc[i]), len(rank)))
    prev, delta, p = [""] * len(out), [math.nan] * len(out), [math.nan] * len(out)
    for before, i in zip(order, order[1:], strict=False):
        a, b = units.get(labels[before]), units.get(labels[i])
        pa, pb = (None, None) if a is None or b is None else (_pooled(a, "val", labels[before]), _pooled(b, "val", ""))
        if pa and pb and pa[1] == pb[1]:
            res = sig.paired(pa[0], pb[0])
            prev[i], delta[i], p[i] = labels[before], res["nll_delta"], res["nll_p"]
    out["vs_prev"], out["prev_delta"], out["prev_p"] = prev, delta, p
    return out


def _ci(runs, split: str, label: str) -> tuple[float, float]:
    pooled = None if runs is None else _pooled(runs, split, label)
    return (math.nan, math.nan) if pooled is None else sig.nll_interval(pooled[0])


def interval_text(lo: float, hi: float) -> str:
    return "—" if lo != lo else f"[{lo:.4f}, {hi:.4f}]"


def prev_text(prev: str, delta: float, p: float) -> str:
    """ "−0.1234 vs mlp" when significant, with "n.s." (not significant at 5%) marked."""
    if not prev:
        return "—"
    return f"{delta:+.4f} vs {prev}" + ("" if p < sig.ALPHA else " (n.s.)")


def compare_units(a: pd.DataFrame, by_a, b: pd.DataFrame, by_b, ua: Grouped, ub: Grouped) -> pd.DataFrame:
    """For each configuration both summaries have, with units on both sides: per split Δ NLL and Δ bits/char
    (B − A) with 95% paired bootstrap intervals and p-values, Welch's p over seeds (n >= 2 a side), the verdict,
    the units paired, what the verdict is judged by, and the jobs of each side that failed (left out)."""
    rb = dict(zip(settings(b, by_b, sep="/"), b.to_dict("records"), strict=True))
    rows = []
    for label, ra in zip(settings(a, by_a, sep="/"), a.to_dict("records"), strict=True):
        if label not in ua or label not in ub or label not in rb:
            continue
        row: dict = {"setting": label, "seeds_A": len(ua[label]), "seeds_B": len(ub[label])}
        row |= {"failed_A": _failed(ra), "failed_B": _failed(rb[label])}
        for split in SPLITS:
            pa, pb = _pooled(ua[label], split, f"A's {label}"), _pooled(ub[label], split, f"B's {label}")
            if pa is None or pb is None:
                continue
            if pa[1] != pb[1] or len(pa[0]) != len(pb[0]):
                raise UnitsError(
                    f"A's and B's {label} were scored on different {split} texts or splits (unit digests "
                    f"{pa[1][:12]} vs {pb[1][:12]}; a word tokenizer's unknown words decode as another text too); "
                    "compare runs prepared from the same corpus, split and split_seed (--no-units: no paired test)"
                )
            row |= {f"{split}_{k}": v for k, v in _judge(pa[0], pb[0], ra, rb[label], split, row).items()}
        rows.append(row)
    return pd.DataFrame(rows)


def _judge(a: np.ndarray, b: np.ndarray, ra: dict, rb: dict, split: str, row: dict) -> dict:
    """The paired test of pooled units a, b (U, 3) and its verdict. Two tokenizers of one text (their tokens per
    unit differ) are judged by bits per character: NLL per token of different tokens compares nothing (a coarser
    tokenizer has fewer, harder tokens). Fewer than MIN_UNITS units give no interval and no verdict."""
    by = "nll" if np.array_equal(a[:, 1], b[:, 1]) else "bpc"
    out, res = {"units": len(a), "judged_by": by}, sig.paired(a, b)
    if few := sig.too_few(len(a)):
        blank = {f"{k}_{s}": math.nan for k in ("nll", "bpc") for s in ("lo", "hi", "p")} | {"welch_p": math.nan}
        return out | res | blank | {"verdict": few}
    wp, wd = _welch(ra, rb, split, row["seeds_A"], row["seeds_B"], by)
    verdict = sig.verdict(res[f"{by}_delta"], res[f"{by}_p"], wp, wd)
    return out | res | {"welch_p": math.nan if wp is None else wp, "verdict": verdict}


def _failed(r: dict) -> int:
    v = r.get("failed")
    return 0 if v is None or v != v else int(v)


def _welch(ra: dict, rb: dict, split: str, na: int, nb: int, by: str = "nll") -> tuple[float | None, float | None]:
    """Welch's p over the seeds' scores of `by` (the summaries' mean and std), and B − A of the means."""
    c = f"{split}_{by}"
    if na < 2 or nb < 2 or any(r.get(c) is None or r[c] != r[c] for r in (ra, rb)):
        return None, None
    _, p = sig.welch(ra[c], ra.get(c + "_std", 0.0), na, rb[c], rb.get(c + "_std", 0.0), nb)
    return p, rb[c] - ra[c]


def explain(paired: str, spread: str, judged_by: str = "nll") -> str:
    """The paired verdict of a row, with why the seed-spread verdict of the same row (compare.py: the table above
    it) says otherwise, where it does."""
    direction = {"better": "B better", "worse": "B worse"}.get(paired)
    if spread not in ("B better", "B worse", "within noise") or direction == spread:
        return paired
    if judged_by == "bpc":
        return f"{paired} (by bits/char: the table above compares NLL per token, which two tokenizers do not share)"
    if direction and spread == "within noise":
        return f"{paired} on these units, but within the seed spread: another seed may reorder them"
    if direction:
        return f"{paired} on these units, {spread} by the seeds' means: too few seeds or units to say"
    return f"{paired} on these units, though the seeds' means differ by more than their spread ({spread})"


def paired_markdown(paired: pd.DataFrame, spread: dict[str, str] | None = None) -> str:
    """The paired table; `spread`: the seed-spread verdict of each setting (compare.py), explained beside the val
    verdict where the two differ."""
    if paired.empty:
        return ""
    show = paired[["setting"]].copy()
    for split in SPLITS:
        if f"{split}_nll_delta" not in paired:
            continue
        for k, name in (("nll", "NLL"), ("bpc", "bits/char")):
            trip = zip(paired[f"{split}_{k}_delta"], paired[f"{split}_{k}_lo"], paired[f"{split}_{k}_hi"], strict=True)
            show[f"Δ {split} {name} [95%]"] = [
                f"{d:+.4f} [{lo:+.4f}, {hi:+.4f}]" if lo == lo else "—" if d != d else f"{d:+.4f}" for d, lo, hi in trip
            ]
        by = paired[f"{split}_judged_by"].fillna("nll")
        p = [r.get(f"{split}_{k}_p", math.nan) for r, k in zip(paired.to_dict("records"), by, strict=True)]
        show[f"{split} p"] = ["—" if v != v else f"{v:.4f}" for v in p]
        welch = paired[f"{split}_welch_p"]
        show[f"{split} Welch p"] = welch.map(lambda v: "—" if v != v else f"{v:.4f}")
        show[f"{split} units"] = paired[f"{split}_units"].map(lambda v: "—" if v != v else f"{int(v):,}")
        show[f"{split} judged by"] = by.map({"nll": "NLL/token", "bpc": "bits/char (other tokens)"})
        verdicts = paired[f"{split}_verdict"].fillna("—")
        if split == "val" and spread:
            trip = zip(verdicts, paired["setting"], by, strict=True)
            verdicts = [explain(v, spread.get(s, ""), j) for v, s, j in trip]
        show[f"{split} verdict"] = verdicts
    head = (
        f"## Paired bootstrap over shared units (B − A; {sig.RESAMPLES:,} resamples, seed {sig.SEED})\n\n"
        "95% interval over documents or 1,000-character blocks; with ≥ 2 seeds a side, Welch's t-test over "
        f"seeds must agree (p < 0.05) for a verdict; fewer than {sig.MIN_UNITS} shared units give none. Sides "
        "that tokenize the text differently are judged by bits per character (p of that). See docs/comparing.md.\n\n"
    )
    return head + show.to_markdown(index=False, disable_numparse=True) + "\n" + _failed_notes(paired)


def _failed_notes(paired: pd.DataFrame) -> str:
    """Failed jobs are left out of a side: say so, with the seeds that remain."""
    notes = [
        f"- {side}'s {r['setting']}: {r[f'failed_{side}']} failed job(s) left out (see {side}'s report); paired over "
        f"its {r[f'seeds_{side}']} finished seed(s)\n"
        for r in paired.to_dict("records")
        for side in ("A", "B")
        if r.get(f"failed_{side}", 0)
    ]
    return "\nFailed jobs:\n\n" + "".join(notes) if notes else ""
