"""Each rung's frontier from its fitted law, and the crossovers of those frontiers: the estimate whose interval
covers. A rung's law frontier at compute C is the lowest loss its law predicts for any of its sizes trained with C
(D = C / the size's cost per token: its FLOPs per token, or its measured seconds per token), over the compute its
runs span. The measured frontier (envelope.py) is straight between the budgets while the true one curves, and the
crossing of two straight frontiers is biased by it (+20% +- 7% on the synthetic studies of tests/frontier, its 95%
interval holding the truth in 14 draws of 20; the law frontiers' -0.5% +- 2.9%, 20 of 20). The law's frontier
curves as the law does; its bias is the law's misfit instead, which the held-out checks measure (holdout.py).

Keys of the values: ("law_cross", axis, rung A, rung B) -> the log compute where A's law frontier falls below B's;
("law_ref", axis, rung, reference) -> where the rung's falls below the reference's loss."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from itertools import combinations

import numpy as np
import pandas as pd

from ..runs import CONVENTIONS
from .envelope import Crossing, Envelope, below_constant, crossing
from .estimates import AXES, cell_means
from .laws import repeats_data
from .parametric import Law

CONVENTION = "params"  # the N the frontier's law counts (Chinchilla's), where the fit has it
GRID = 240  # log-compute points each law frontier is evaluated on


@dataclass
class LawFrontiers:
    values: dict[tuple, float] = field(default_factory=dict)
    frontiers: dict[tuple, Envelope | str] = field(default_factory=dict)  # (axis, rung) -> frontier, or why none
    crossings: dict[tuple, Crossing] = field(default_factory=dict)  # (axis, rung A, rung B)
    forms: dict[str, tuple[str, str]] = field(default_factory=dict)  # rung -> (convention, form) of its law


@dataclass
class Design:
    """What the law frontiers need of the runs besides their losses (the same for every bootstrap replicate)."""

    forms: dict[str, tuple[str, str]] = field(default_factory=dict)  # rung -> (convention, form) of its law
    sizes: dict[tuple, tuple] = field(default_factory=dict)  # (axis, rung) -> (log-compute span, N, cost per token)


def frontier_form(rung_runs: pd.DataFrame, U: float, conventions) -> tuple[str, str]:
    """(convention, form) of the law a rung's frontier is drawn from: the data-constrained form where its runs
    repeat their data (it holds the Chinchilla form as R* grows), else Chinchilla's."""
    conv = CONVENTION if CONVENTION in conventions else conventions[0]
    return conv, "data_constrained" if repeats_data(rung_runs, U) else "chinchilla"


def size_costs(runs: pd.DataFrame, conv: str, col: str) -> tuple[np.ndarray, np.ndarray]:
    """Per size of a rung: N under `conv` and the compute one trained token costs on axis `col` (NaN-free)."""
    per = runs.assign(cost=runs[col].astype(float) / runs["tokens"].astype(float))
    per = per[np.isfinite(per["cost"]) & (per["cost"] > 0)]
    g = per.groupby("size", sort=True).agg(N=(CONVENTIONS[conv], "first"), cost=("cost", "mean"))
    return g["N"].to_numpy(float), g["cost"].to_numpy(float)


def frontier_design(runs: pd.DataFrame, U: float, conventions) -> Design:
    """Each rung's law form, and per axis the compute its runs span and its sizes' N and cost per token."""
    out = Design()
    means = cell_means(runs)
    for rung, g in runs.groupby("rung", sort=True):
        out.forms[rung] = frontier_form(g, U, conventions)
        for axis, col in AXES.items():
            spent = means.loc[means["rung"] == rung, col].astype(float)
            spent = spent[np.isfinite(spent) & (spent > 0)]
            if len(spent):
                span = (math.log(spent.min()), math.log(spent.max()))
                out.sizes[(axis, rung)] = (span, *size_costs(g, out.forms[rung][0], col))
    return out


def law_frontier(law: Law, span: tuple[float, float], N: np.ndarray, cost: np.ndarray, U: float) -> Envelope:
    """The law's best loss over the sizes at each of GRID log computes in `span`."""
    grid = np.linspace(span[0], span[1], GRID)
    D = np.exp(grid)[:, None] / cost[None, :]  # (compute, size)
    loss = law.predict(np.broadcast_to(N, D.shape), D, U).min(axis=1)
    return Envelope(grid, loss)


def law_frontiers(design: Design, laws: dict, references: dict[str, float], U: float) -> LawFrontiers:
    """Every rung's law frontier on each axis, their crossings and where each falls below each reference."""
    out = LawFrontiers(forms=design.forms)
    for (axis, rung), sizes in design.sizes.items():
        conv, form = design.forms[rung]
        law = laws.get((rung, conv, form), "no law fitted")
        out.frontiers[(axis, rung)] = (
            f"{rung}'s law ({form}, N as {conv}): {law}" if isinstance(law, str) else law_frontier(law, *sizes, U)
        )
    for axis in AXES:
        fitted = sorted(r for (a, r), f in out.frontiers.items() if a == axis and isinstance(f, Envelope))
        for a, b in combinations(fitted, 2):
            c = crossing(out.frontiers[(axis, a)], out.frontiers[(axis, b)])
            if c is not None:
                out.crossings[(axis, a, b)] = c
                out.values[("law_cross", axis, a, b)] = c.log_c
        for rung in fitted:
            for ref, level in references.items():
                out.values[("law_ref", axis, rung, ref)] = below_constant(out.frontiers[(axis, rung)], level)
    return out
