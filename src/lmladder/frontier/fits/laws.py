"""The parametric laws of each rung (parametric.py) under each parameter convention, in both forms, and the
held-out check: fitted without the largest budget, they predict that budget's runs, and the error is in nats."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..runs import CONVENTIONS
from .parametric import Law, fit_law

FORMS = {"chinchilla": False, "data_constrained": True}  # form -> D' for D


@dataclass(frozen=True)
class Holdout:
    kind: str  # the budget axis held out
    budget: float
    cells: int  # held-out (size) cells predicted
    mae: float  # mean |predicted - observed| over them, nats
    best_error: float  # predicted - observed at the held-out budget's best cell
    best_observed: float


def law_inputs(runs: pd.DataFrame, conv: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return runs[CONVENTIONS[conv]].to_numpy(float), runs["tokens"].to_numpy(float), runs["val_nll"].to_numpy(float)


def fit_laws(runs: pd.DataFrame, U: float, start: dict | None = None, conventions=tuple(CONVENTIONS)) -> dict:
    """(rung, convention, form) -> the law, or why it cannot be fitted. `start`: refine each from these laws."""
    out: dict[tuple, Law | str] = {}
    for rung, g in runs.groupby("rung", sort=True):
        for conv in conventions:
            N, D, L = law_inputs(g, conv)
            for form, constrained in FORMS.items():
                begin = (start or {}).get((rung, conv, form))
                if start is not None and not isinstance(begin, Law):
                    continue
                out[(rung, conv, form)] = fit_law(N, D, L, U, constrained=constrained, start=begin)
    return out


def held_out_budget(g: pd.DataFrame) -> tuple[str, float] | None:
    """The budget a rung's held-out check leaves out: its largest FLOP budget, else its largest in seconds."""
    for kind in ("flops", "seconds"):
        budgets = g.loc[g["kind"] == kind, "budget"]
        if budgets.notna().any() and budgets.nunique() >= 3:  # two budgets left to fit on
            return kind, float(budgets.max())
    return None


def holdout(runs: pd.DataFrame, U: float, conventions=tuple(CONVENTIONS)) -> dict[tuple, Holdout | str]:
    """(rung, convention, form) -> the held-out check, or why there is none."""
    out: dict[tuple, Holdout | str] = {}
    for rung, g in runs.groupby("rung", sort=True):
        which = held_out_budget(g)
        for conv in conventions:
            for form, constrained in FORMS.items():
                if which is None:
                    out[(rung, conv, form)] = "needs 3 budgets of one kind (2 to fit, the largest to predict)"
                    continue
                held = (g["kind"] == which[0]) & (g["budget"] == which[1])
                law = fit_law(*law_inputs(g[~held], conv), U, constrained=constrained)
                out[(rung, conv, form)] = law if isinstance(law, str) else _check(law, g[held], conv, U, which)
    return out


def _check(law: Law, held: pd.DataFrame, conv: str, U: float, which: tuple[str, float]) -> Holdout:
    N, D, L = law_inputs(held, conv)
    pred = pd.Series(law.predict(N, D, U), index=held.index)
    cells = pd.DataFrame({"size": held["size"], "pred": pred, "obs": held["val_nll"]}).groupby("size").mean()
    best = cells["obs"].idxmin()
    err = (cells["pred"] - cells["obs"]).abs()
    return Holdout(
        which[0],
        which[1],
        len(cells),
        float(err.mean()),
        float(cells.loc[best, "pred"] - cells.loc[best, "obs"]),
        float(cells.loc[best, "obs"]),
    )


def repeats_data(runs: pd.DataFrame, U: float) -> bool:
    """Whether any run saw its data more than once (where the two forms differ)."""
    return bool(math.isfinite(U) and (runs["tokens"] > U).any())
