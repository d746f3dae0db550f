"""Every number a study's fit reports, from one set of runs: the isoFLOP (iso-second) vertices, the power laws
through them, and the crossovers of the rungs' frontiers with each other and with the count model. The bootstrap
(analysis.py) calls it again on each replicate, so each number gets its interval from the same code.

Keys: ("vertex", rung, kind, budget, convention) -> log N*, ("loss*", ...) -> L*, ("a" | "b", rung, kind,
convention) -> the exponent of N* or D* against the budget, ("cross", axis, rung A, rung B) -> the log compute
where A falls below B, ("ref", axis, rung, reference) -> where the rung falls below the reference's loss."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd

from ..preset import KINDS
from ..runs import CONVENTIONS
from .envelope import Crossing, Envelope, below_constant, crossing
from .profiles import Profile, fit_profile, power_law

AXES = {"flops": "flops", "seconds": "seconds"}  # frontier axis -> the runs' column


@dataclass
class Estimates:
    values: dict[tuple, float] = field(default_factory=dict)
    profiles: dict[tuple, Profile] = field(default_factory=dict)
    envelopes: dict[tuple, Envelope] = field(default_factory=dict)
    crossings: dict[tuple, Crossing] = field(default_factory=dict)


def cell_means(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per cell (rung, size, kind, budget): the seeds' mean loss and compute (a FLOP budget's cells: the
    budget), and how many seeds."""
    keys = runs.assign(budget=runs["budget"].fillna(runs["step"]), kind=runs["kind"].fillna(""))
    g = keys.groupby(["rung", "size", "kind", "budget"], sort=True, dropna=False)
    out = g.agg(
        val_nll=("val_nll", "mean"), flops=("flops", "mean"), seconds=("seconds", "mean"), seeds=("seed", "size")
    ).reset_index()
    # a FLOP-budget cell spent its budget: whole steps round it by < 0.1%, noise that must not order the cells of
    # one budget along the frontier (another rung's run 0.03% cheaper would "cross" there)
    planned = out["kind"] == "flops"
    out.loc[planned, "flops"] = out.loc[planned, "budget"].astype(float)
    return out


def estimate(runs: pd.DataFrame, references: dict[str, float], conventions=tuple(CONVENTIONS)) -> Estimates:
    """All the numbers from `runs` (finished runs of trained rungs) and the `references` (label -> loss), N counted
    by each of `conventions`."""
    est = Estimates()
    _profiles(runs, est, conventions)
    _power_laws(est)
    means = cell_means(runs)
    for axis, col in AXES.items():
        pts = means[np.isfinite(means[col].astype(float)) & (means[col].astype(float) > 0)]
        for rung, g in pts.groupby("rung", sort=True):
            est.envelopes[(axis, rung)] = Envelope.of(g[col].to_numpy(float), g["val_nll"].to_numpy(float))
        rungs = sorted(r for a, r in est.envelopes if a == axis)
        for a, b in combinations(rungs, 2):
            c = crossing(est.envelopes[(axis, a)], est.envelopes[(axis, b)])
            if c is not None:
                est.crossings[(axis, a, b)] = c
                est.values[("cross", axis, a, b)] = c.log_c
        for rung in rungs:
            for ref, level in references.items():
                est.values[("ref", axis, rung, ref)] = below_constant(est.envelopes[(axis, rung)], level)
    return est


def _profiles(runs: pd.DataFrame, est: Estimates, conventions) -> None:
    planned = runs[runs["kind"].isin(KINDS)]
    for (rung, kind, budget), g in planned.groupby(["rung", "kind", "budget"], sort=True):
        log_d = np.log(g["tokens"].to_numpy(float))
        for conv in conventions:
            col = CONVENTIONS[conv]
            p = fit_profile(np.log(g[col].to_numpy(float)), g["val_nll"].to_numpy(float), log_d)
            est.profiles[(rung, kind, budget, conv)] = p
            est.values[("vertex", rung, kind, budget, conv)] = p.log_n_star if p.usable else math.nan
            est.values[("loss*", rung, kind, budget, conv)] = p.loss_star if p.usable else math.nan
            est.values[("dstar", rung, kind, budget, conv)] = p.log_d_star if p.usable else math.nan


def _power_laws(est: Estimates) -> None:
    groups: dict[tuple, list[tuple[float, Profile]]] = {}
    for (rung, kind, budget, conv), p in est.profiles.items():
        groups.setdefault((rung, kind, conv), []).append((budget, p))
    for (rung, kind, conv), items in groups.items():
        good = [(b, p) for b, p in items if p.usable]
        log_c = np.log([b for b, _ in good])
        a, _ = power_law(log_c, np.array([p.log_n_star for _, p in good]))
        b, _ = power_law(log_c, np.array([p.log_d_star for _, p in good]))
        est.values[("a", rung, kind, conv)] = a
        est.values[("b", rung, kind, conv)] = b
        est.values[("budgets", rung, kind, conv)] = float(len(good))


def reference_levels(refs: pd.DataFrame) -> dict[str, float]:
    """Each reference run (a count model) as a label and its loss, the mean over its seeds."""
    out: dict[str, Any] = {}
    for (rung, size), g in refs.groupby(["rung", "size"], sort=True, dropna=False):
        label = rung if size in ("", "-") or size != size else f"{rung} {size}"
        out[label] = float(g["val_nll"].mean())
    return out
