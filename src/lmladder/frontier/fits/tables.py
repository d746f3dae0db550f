"""A fit's results as tables (one CSV each beside report.md; the crossovers' in crossover_table.py). A number that
cannot be fitted is NaN with a note starting "cannot fit:" and saying why, never a made-up value; an interval is NaN
where there was nothing to resample (one seed per point)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..runs import CONVENTIONS
from .analysis import Results
from .bootstrap import interval
from .holdout import Holdout, headline
from .laws import FORMS
from .parametric import NAMES, Law

CANNOT = "cannot fit: "

UNITS = {"flops": "FLOPs", "seconds": "s"}


def compute(axis: str, log_c: float) -> str:
    """A log compute said in its unit: 3.2e+12 FLOPs, 95.0 s."""
    if not math.isfinite(log_c):
        return "n/a"
    v = math.exp(log_c)
    return f"{v:.3g} FLOPs" if axis == "flops" else f"{v:.3g} s"


def noisy(res: Results, key: tuple) -> bool:
    """Whether every rung an estimate depends on has a seed-noise estimate (bootstrap.py)."""
    rungs = key[2:4] if key[0].endswith("cross") else key[2:3] if key[0].endswith("ref") else key[1:2]
    return set(rungs) <= res.noisy


def ci(res: Results, key: tuple, transform=lambda v: v) -> tuple[float, float]:
    """The bootstrap interval of an estimate that exists (NaN for one that does not, or without replicates)."""
    if not math.isfinite(res.est.values.get(key, math.nan)) or not noisy(res, key):
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
        n_lo, n_hi = ci(res, ("vertex", *key), math.exp)
        l_lo, l_hi = ci(res, ("loss*", *key))
        rows.append(
            dict(rung=rung, kind=kind, budget=budget, convention=conv, sizes=p.n_sizes,
                 N_star=math.exp(p.log_n_star) if p.usable else math.nan, N_star_lo=n_lo, N_star_hi=n_hi,
                 D_star=math.exp(p.log_d_star) if p.usable else math.nan,
                 loss_star=p.loss_star if p.usable else math.nan, loss_star_lo=l_lo, loss_star_hi=l_hi,
                 a=p.coef[0], b=p.coef[1], c=p.coef[2],
                 note=CANNOT + p.note if p.note else _share_note(res, ("vertex", *key)))
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
            else f"{CANNOT}needs a vertex inside the sizes at 2 budgets or more (has {n})"
        )
        a_lo, a_hi = ci(res, key)
        b_lo, b_hi = ci(res, ("b", rung, kind, conv))
        rows.append(dict(rung=rung, kind=kind, convention=conv, budgets=n, a=a, a_lo=a_lo, a_hi=a_hi, b=b,
                         b_lo=b_lo, b_hi=b_hi, note=note))  # fmt: skip
    return pd.DataFrame(rows)


def laws(res: Results) -> pd.DataFrame:
    rows = []
    for (rung, conv, form), law in sorted(res.laws.items()):
        row = dict(rung=rung, convention=conv, form=form)
        if isinstance(law, str):
            rows.append({**row, **{k: math.nan for k in NAMES}, "note": CANNOT + law})
            continue
        row |= law.params()
        thetas = [t for t in res.boot_laws.get((rung, conv, form), []) if t is not None and rung in res.noisy]
        reps = [Law(t, 0.0, law.constrained).params() for t in thetas]
        for name in NAMES:
            row[f"{name}_lo"], row[f"{name}_hi"] = interval([r[name] for r in reps])
        h = headline(res.holdouts.get((rung, conv, form), "no check"))
        row |= dict(huber=law.loss, runs=int((res.used["rung"] == rung).sum()))
        row |= dict(holdout_mae=h.mae, holdout_best_error=h.best_error) if isinstance(h, Holdout) else {}
        notes = [] if isinstance(h, Holdout) else [f"held-out check: {h}"]
        if at := law.at_bounds():
            notes.append(f"{', '.join(at)} at the edge of its range: not identified by these runs")
        if FORMS[form] and not law.constrained:
            notes = ["no run of this rung repeats its data: the chinchilla law itself (R* is not identified)"]
        rows.append({**row, "note": "; ".join(notes)})
    return pd.DataFrame(rows)


def _conventions(res: Results) -> list[str]:
    return [c for c in CONVENTIONS if any(k[1] == c for k in res.laws)]


def same_form(res: Results, rung: str, conv: str) -> bool:
    """Whether the rung's data-constrained law is its Chinchilla law (no run of it repeats its data)."""
    law = res.laws.get((rung, conv, "data_constrained"))
    return isinstance(law, Law) and not law.constrained


def holdout(res: Results) -> pd.DataFrame:
    """Per rung and convention: both forms' errors on the largest budget held out, and which predicts it better."""
    rows = []
    for rung in sorted(res.used["rung"].unique()):
        for conv in _conventions(res):
            hs = {f: headline(res.holdouts.get((rung, conv, f), "no check")) for f in FORMS}
            good = {f: h for f, h in hs.items() if isinstance(h, Holdout)}
            if not good:
                why = next((h for h in hs.values() if isinstance(h, str)), "no fit")
                rows.append(dict(rung=rung, convention=conv, note=why if why.startswith(CANNOT) else CANNOT + why))
                continue
            h0 = next(iter(good.values()))
            row = dict(rung=rung, convention=conv, kind=h0.kind, budget=h0.budget, cells=h0.cells,
                       best_observed=h0.best_observed)  # fmt: skip
            for f, h in good.items():
                row |= {f"{f}_mae": h.mae, f"{f}_best_error": h.best_error}
            if same_form(res, rung, conv):
                row["better"] = "equal: no run repeats its data"
            else:
                row["better"] = min(good, key=lambda f: good[f].mae) if len(good) == len(FORMS) else "-"
            rows.append(row)
    return pd.DataFrame(rows)


def leave_one_out(res: Results) -> pd.DataFrame:
    """Every budget held out in turn: per rung, form, convention and budget, the error predicting it (nats)."""
    rows = []
    for (rung, conv, form), checks in sorted(res.holdouts.items()):
        key = dict(rung=rung, form=form, convention=conv)
        if isinstance(checks, str):
            rows.append({**key, "note": checks})
            continue
        top = max(checks)
        for budget, h in checks.items():
            row = {**key, "budget": budget, "headline": budget == top}
            if isinstance(h, str):
                rows.append({**row, "note": h})
            else:
                rows.append({**row, "kind": h.kind, "cells": h.cells, "mae": h.mae, "best_error": h.best_error,
                             "best_observed": h.best_observed, "note": ""})  # fmt: skip
    return pd.DataFrame(rows)


def exp_or_nan(x: float) -> float:
    return math.exp(x) if math.isfinite(x) else math.nan
