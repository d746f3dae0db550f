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

from ..inference.units import SplitUnits, UnitsError, load_units, save_units
from ..io.files import path_kind
from ..models import ladder
from . import significance as sig
from .collect import settings

SPLITS = ("val", "test")
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
            out[job] = load_units(path, metrics={s: {"nll": r.get(f"{s}_nll")} for s in SPLITS}, raw=raw)
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
    (B − A) with 95% paired bootstrap intervals and p-values, Welch's p over seeds (n >= 2 a side), the verdict."""
    rb = dict(zip(settings(b, by_b, sep="/"), b.to_dict("records"), strict=True))
    rows = []
    for label, ra in zip(settings(a, by_a, sep="/"), a.to_dict("records"), strict=True):
        if label not in ua or label not in ub or label not in rb:
            continue
        row: dict = {"setting": label, "seeds_A": len(ua[label]), "seeds_B": len(ub[label])}
        for split in SPLITS:
            pa, pb = _pooled(ua[label], split, f"A's {label}"), _pooled(ub[label], split, f"B's {label}")
            if pa is None or pb is None:
                continue
            if pa[1] != pb[1] or len(pa[0]) != len(pb[0]):
                raise UnitsError(
                    f"A's and B's {label} were scored on different {split} texts or splits (unit digests "
                    f"{pa[1][:12]} vs {pb[1][:12]}); compare runs prepared from the same corpus, split and "
                    "split_seed"
                )
            res = sig.paired(pa[0], pb[0])
            wp, wd = _welch(ra, rb[label], split, row["seeds_A"], row["seeds_B"])
            res |= {
                "welch_p": math.nan if wp is None else wp,
                "verdict": sig.verdict(res["nll_delta"], res["nll_p"], wp, wd),
            }
            row |= {f"{split}_{k}": v for k, v in res.items()}
        rows.append(row)
    return pd.DataFrame(rows)


def _welch(ra: dict, rb: dict, split: str, na: int, nb: int) -> tuple[float | None, float | None]:
    """Welch's p over the seeds' scores (the summaries' mean and std), and B − A of the means."""
    c = f"{split}_nll"
    if na < 2 or nb < 2 or any(r.get(c) is None or r[c] != r[c] for r in (ra, rb)):
        return None, None
    _, p = sig.welch(ra[c], ra.get(c + "_std", 0.0), na, rb[c], rb.get(c + "_std", 0.0), nb)
    return p, rb[c] - ra[c]


def paired_markdown(paired: pd.DataFrame) -> str:
    if paired.empty:
        return ""
    show = paired[["setting"]].copy()
    for split in SPLITS:
        if f"{split}_nll_delta" not in paired:
            continue
        for k, name in (("nll", "NLL"), ("bpc", "bits/char")):
            trip = zip(paired[f"{split}_{k}_delta"], paired[f"{split}_{k}_lo"], paired[f"{split}_{k}_hi"], strict=True)
            show[f"Δ {split} {name} [95%]"] = [
                f"{d:+.4f} [{lo:+.4f}, {hi:+.4f}]" if d == d else "—" for d, lo, hi in trip
            ]
        show[f"{split} p"] = paired[f"{split}_nll_p"].map(lambda v: "—" if v != v else f"{v:.4f}")
        welch = paired[f"{split}_welch_p"]
        show[f"{split} Welch p"] = welch.map(lambda v: "—" if v != v else f"{v:.4f}")
        show[f"{split} verdict"] = paired[f"{split}_verdict"].fillna("—")
    head = (
        f"## Paired bootstrap over shared units (B − A; {sig.RESAMPLES:,} resamples, seed {sig.SEED})\n\n"
        "95% interval over documents or 1,000-character blocks; with ≥ 2 seeds a side, Welch's t-test over "
        "seeds must agree (p < 0.05) for a verdict. See docs/comparing.md.\n\n"
    )
    return head + show.to_markdown(index=False, disable_numparse=True) + "\n"
