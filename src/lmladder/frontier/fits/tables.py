"""A fit's results as tables (one CSV each beside report.md) and its headline numbers (metrics.json). A number that
cannot be fitted is NaN with a note saying why, never a made-up value; an interval is NaN where there was nothing
to resample (one seed per point)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..runs import CONVENTIONS
from .analysis import Results
from .bootstrap import interval
from .laws import FORMS, Holdout
from .parametric import NAMES, Law

UNITS = {"flops": "FLOPs", "seconds": "s"}


def compute(axis: str, log_c: float) -> str:
    """A log compute said in its unit: 3.2e+12 FLOPs, 95.0 s."""
    if not math.isfinite(log_c):
        return "n/a"
    v = math.exp(log_c)
    return f"{v:.3g} FLOPs" if axis == "flops" else f"{v:.3g} s"


def _noisy(res: Results, key: tuple) -> bool:
    """Whether every rung an estimate depends on has a seed-noise estimate (bootstrap.py)."""
    rungs = key[2:4] if key[0] == "cross" else key[2:3] if key[0] == "ref" else key[1:2]
    return set(rungs) <= res.noisy


def _ci(res: Results, key: tuple, transform=lambda v: v) -> tuple[float, float]:
    """The bootstrap interval of an estimate that exists (NaN for one that does not, or without replicates)."""
    if not math.isfinite(res.est.values.get(key, math.nan)) or not _noisy(res, key):
        return math.nan, math.nan
    lo, hi = interval(res.boot.get(key, []))
    return transform(lo), transform(hi)


def _share_note(res: Results, key: tuple) -> str:
    """Where some replicates had no such estimate (no vertex inside the sizes), how many did."""
    reps = res.boot.get(key, [])
    share = float(np.isfinite(reps).mean()) if reps else 1.0
    return (
        ""
        if share >= 0.95 or not math.isfinite(res.est.values.get(key, math.nan))
        else f"interval from {share:.0%} of replicates"
    )


def profiles(res: Results) -> pd.DataFrame:
    rows = []
    for (rung, kind, budget, conv), p in sorted(res.est.profiles.items()):
        key = (rung, kind, budget, conv)
        n_lo, n_hi = _ci(res, ("vertex", *key), math.exp)
        l_lo, l_hi = _ci(res, ("loss*", *key))
        rows.append(
            dict(rung=rung, kind=kind, budget=budget, convention=conv, sizes=p.n_sizes,
                 N_star=math.exp(p.log_n_star) if p.usable else math.nan, N_star_lo=n_lo, N_star_hi=n_hi,
                 D_star=math.exp(p.log_d_star) if p.usable else math.nan,
                 loss_star=p.loss_star if p.usable else math.nan, loss_star_lo=l_lo, loss_star_hi=l_hi,
                 a=p.coef[0], b=p.coef[1], c=p.coef[2], note=p.note or _share_note(res, ("vertex", *key)))
        )  # fmt: skip
    return pd.DataFrame(rows)


def power_laws(res: Results) -> pd.DataFrame:
    rows = []
    for key, a in sorted((k, v) for k, v in res.est.values.items() if k[0] == "a"):
        _, rung, kind, conv = key
        b = res.est.values[("b", rung, kind, conv)]
        n = int(res.est.values[("budgets", rung, kind, conv)])
        note = (
            _share_note(res, key)
            if math.isfinite(a)
            else f"needs a vertex inside the sizes at 2 budgets or more (has {n})"
        )
        a_lo, a_hi = _ci(res, key)
        b_lo, b_hi = _ci(res, ("b", rung, kind, conv))
        rows.append(dict(rung=rung, kind=kind, convention=conv, budgets=n, a=a, a_lo=a_lo, a_hi=a_hi, b=b,
                         b_lo=b_lo, b_hi=b_hi, note=note))  # fmt: skip
    return pd.DataFrame(rows)


def crossovers(res: Results) -> pd.DataFrame:
    rows = []
    for (axis, a, b), c in sorted(res.est.crossings.items()):
        reps = res.boot.get(("cross", axis, a, b), []) if _noisy(res, ("cross", axis, a, b)) else []
        share = float(np.isfinite(reps).mean()) if reps else math.nan
        lo, hi = interval(reps)
        low, high = (a, b) if c.below_at_end else (b, a)  # below / above at the top of the shared range
        if math.isfinite(c.log_c):
            what = f"{axis}: {low} falls below {high} at {compute(axis, c.log_c)}"
            what += (
                f" (95% [{compute(axis, lo)}, {compute(axis, hi)}], crossing in {share:.0%} of replicates)"
                if reps
                else " (no interval: one seed per point)"
            )
            what += f"; the frontiers cross {c.changes} times, this is the last" if c.changes > 1 else ""
        else:
            what = f"{axis}: {low} is below {high} over the whole shared range: no crossover in range"
        span = f"{compute(axis, c.lo)} to {compute(axis, c.hi)}"
        rows.append(dict(axis=axis, a=a, b=b, lower=low, crossover=_exp(c.log_c), lo=_exp(lo), hi=_exp(hi),
                         share=share, changes=c.changes, range=span, statement=what))  # fmt: skip
    for key, x in sorted((k, v) for k, v in res.est.values.items() if k[0] == "ref"):
        _, axis, rung, ref = key
        level = res.references[ref]
        if x == -math.inf:
            what = f"{axis}: {rung} is below {ref} ({level:.4f}) from its cheapest run"
        elif math.isnan(x):
            what = f"{axis}: {rung} never gets below {ref} ({level:.4f}) within its runs"
        else:
            what = f"{axis}: {rung} falls below {ref} ({level:.4f}) at {compute(axis, x)}"
        lo, hi = _ci(res, key)
        lower = rung if x == -math.inf or math.isfinite(x) else ref
        rows.append(dict(axis=axis, a=rung, b=ref, lower=lower, crossover=_exp(x), lo=_exp(lo), hi=_exp(hi),
                         range="", statement=what))  # fmt: skip
    return pd.DataFrame(rows)


def laws(res: Results) -> pd.DataFrame:
    rows = []
    for (rung, conv, form), law in sorted(res.laws.items()):
        row = dict(rung=rung, convention=conv, form=form)
        if isinstance(law, str):
            rows.append({**row, **{k: math.nan for k in NAMES}, "note": f"cannot fit: {law}"})
            continue
        row |= law.params()
        thetas = [t for t in res.boot_laws.get((rung, conv, form), []) if t is not None and rung in res.noisy]
        reps = [Law(t, 0.0, law.constrained).params() for t in thetas]
        for name in NAMES:
            row[f"{name}_lo"], row[f"{name}_hi"] = interval([r[name] for r in reps])
        h = res.holdouts.get((rung, conv, form))
        row |= dict(huber=law.loss, runs=int((res.used["rung"] == rung).sum()))
        row |= dict(holdout_mae=h.mae, holdout_best_error=h.best_error) if isinstance(h, Holdout) else {}
        notes = [] if isinstance(h, Holdout) else [f"held-out check: {h}"]
        if at := law.at_bounds():
            notes.append(f"{', '.join(at)} at the edge of its range: not identified by these runs")
        if form == "data_constrained" and not res.repeats:
            notes = ["no run repeats its data: the same law as chinchilla (R* is not identified)"]
        rows.append({**row, "note": "; ".join(notes)})
    return pd.DataFrame(rows)


def holdout(res: Results) -> pd.DataFrame:
    """Per rung and convention: both forms' held-out errors, and which predicts the held-out budget better."""
    rows = []
    for rung in sorted(res.used["rung"].unique()):
        for conv in CONVENTIONS:
            hs = {f: res.holdouts.get((rung, conv, f)) for f in FORMS}
            good = {f: h for f, h in hs.items() if isinstance(h, Holdout)}
            if not good:
                why = next((h for h in hs.values() if isinstance(h, str)), "no fit")
                rows.append(dict(rung=rung, convention=conv, note=f"no held-out check: {why}"))
                continue
            h0 = next(iter(good.values()))
            row = dict(rung=rung, convention=conv, kind=h0.kind, budget=h0.budget, cells=h0.cells,
                       best_observed=h0.best_observed)  # fmt: skip
            for f, h in good.items():
                row |= {f"{f}_mae": h.mae, f"{f}_best_error": h.best_error}
            if not res.repeats:
                row["better"] = "equal: no run repeats its data"
            else:
                row["better"] = min(good, key=lambda f: good[f].mae) if len(good) == len(FORMS) else "-"
            rows.append(row)
    return pd.DataFrame(rows)


def _exp(x: float) -> float:
    return math.exp(x) if math.isfinite(x) else math.nan
