"""The crossovers as a table (crossovers.csv): each pair of rungs, and each rung against each count model, on each
compute axis. The number and its interval come from the rungs' law frontiers (optimal.py), the estimate whose
interval covers; the measured frontiers' crossing (straight between budgets, envelope.py) is given beside it, as
`measured`, without an interval: it carries the interpolation's bias. A pair with no law crossover says why."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .analysis import Results
from .bootstrap import interval
from .envelope import Crossing
from .tables import CANNOT, ci, compute, exp_or_nan, noisy


def crossovers(res: Results) -> pd.DataFrame:
    rows = [_pair(res, *key) for key in _pairs(res)]
    for key in sorted(k for k in res.est.values if k[0] == "ref"):
        rows.append(_reference(res, *key[1:]))
    return pd.DataFrame(rows)


def _pairs(res: Results) -> list[tuple[str, str, str]]:
    """(axis, A, B) for every two rungs with a frontier of either kind on the axis."""
    have = set(res.optimal.frontiers) | set(res.est.envelopes)
    out = set()
    for axis in {a for a, _ in have}:
        rungs = sorted(r for a, r in have if a == axis)
        out |= {(axis, a, b) for i, a in enumerate(rungs) for b in rungs[i + 1 :]}
    return sorted(out)


def _said(axis: str, low: str, high: str, c: Crossing) -> str:
    if math.isfinite(c.log_c):
        return f"{low} falls below {high} at {compute(axis, c.log_c)}"
    return f"{low} is below {high} over the whole shared range: no crossover in range"


def _pair(res: Results, axis: str, a: str, b: str) -> dict:
    key = ("law_cross", axis, a, b)
    law, seen = res.optimal.crossings.get((axis, a, b)), res.est.crossings.get((axis, a, b))
    row = dict(axis=axis, a=a, b=b, lower="", crossover=math.nan, lo=math.nan, hi=math.nan, share=math.nan,
               measured=exp_or_nan(seen.log_c) if seen else math.nan, changes=seen.changes if seen else 0,
               range="")  # fmt: skip
    if law is not None:
        low, high = (a, b) if law.below_at_end else (b, a)
        reps = res.boot.get(key, []) if noisy(res, key) else []
        lo, hi = interval(reps)
        row |= dict(lower=low, crossover=exp_or_nan(law.log_c), lo=exp_or_nan(lo), hi=exp_or_nan(hi),
                    share=float(np.isfinite(reps).mean()) if reps else math.nan,
                    range=f"{compute(axis, law.lo)} to {compute(axis, law.hi)}")  # fmt: skip
        what = f"{axis}: {_said(axis, low, high, law)} by the laws' frontiers"
        if math.isfinite(law.log_c):
            what += (
                f" (95% [{compute(axis, lo)}, {compute(axis, hi)}], crossing in {row['share']:.0%} of replicates)"
                if reps
                else f" (no interval: {'one seed per point' if not noisy(res, key) else 'no bootstrap replicates'})"
            )
            what += f"; they cross {law.changes} times, this is the last" if law.changes > 1 else ""
    else:
        what = f"{axis}: {CANNOT}{_why_no_law(res, axis, a, b)}"
    if seen is not None:
        m_low, m_high = (a, b) if seen.below_at_end else (b, a)
        row["lower"] = row["lower"] or m_low
        what += f"; the measured frontiers (straight between budgets): {_said(axis, m_low, m_high, seen)}"
        row["range"] = row["range"] or f"{compute(axis, seen.lo)} to {compute(axis, seen.hi)}"
    return row | {"statement": what}


def _why_no_law(res: Results, axis: str, a: str, b: str) -> str:
    for r in (a, b):
        f = res.optimal.frontiers.get((axis, r))
        if isinstance(f, str):
            return f
    return f"the runs of {a} and {b} share no range of compute on this axis (one budget each, or apart)"


def _reference(res: Results, axis: str, rung: str, ref: str) -> dict:
    level = res.references[ref]
    measured = res.est.values[("ref", axis, rung, ref)]
    law_key = ("law_ref", axis, rung, ref)
    x = res.est.values.get(law_key)
    row = dict(axis=axis, a=rung, b=ref, measured=exp_or_nan(measured), range="")
    if x is None:
        f = res.optimal.frontiers.get((axis, rung))
        why = f if isinstance(f, str) else f"{rung}'s runs span one compute on this axis"
        what = f"{axis}: {CANNOT}{why}; the measured frontier: {_against(axis, rung, ref, level, measured)}"
        return row | dict(lower=_lower(rung, ref, measured), crossover=math.nan, lo=math.nan, hi=math.nan,
                          statement=what)  # fmt: skip
    lo, hi = ci(res, law_key)
    what = f"{axis}: {_against(axis, rung, ref, level, x)} by its law's frontier"
    if math.isfinite(lo):
        what += f" (95% [{compute(axis, lo)}, {compute(axis, hi)}])"
    elif math.isfinite(x):
        what += f" (no interval: {'one seed per point' if not noisy(res, law_key) else 'no bootstrap replicates'})"
    what += f"; the measured frontier: {_against(axis, rung, ref, level, measured)}"
    return row | dict(lower=_lower(rung, ref, x), crossover=exp_or_nan(x), lo=exp_or_nan(lo), hi=exp_or_nan(hi),
                      statement=what)  # fmt: skip


def _against(axis: str, rung: str, ref: str, level: float, x: float) -> str:
    if x == -math.inf:
        return f"{rung} is below {ref} ({level:.4f}) from its cheapest run"
    if math.isnan(x):
        return f"{rung} never gets below {ref} ({level:.4f}) within its runs"
    return f"{rung} falls below {ref} ({level:.4f}) at {compute(axis, x)}"


def _lower(rung: str, ref: str, x: float) -> str:
    return rung if x == -math.inf or math.isfinite(x) else ref
