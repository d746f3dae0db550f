"""The parametric laws of each rung (parametric.py) under each parameter convention, in both forms. Where no run of
a rung repeats its data the data-constrained form is the Chinchilla form (D' = D, R* not identified): its row is
the Chinchilla law itself, not a second minimisation that could land elsewhere."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..preset import KINDS
from ..runs import CONVENTIONS
from .parametric import Law, fit_law

FORMS = {"chinchilla": False, "data_constrained": True}  # form -> D' for D


def law_inputs(runs: pd.DataFrame, conv: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return runs[CONVENTIONS[conv]].to_numpy(float), runs["tokens"].to_numpy(float), runs["val_nll"].to_numpy(float)


def budget_count(runs: pd.DataFrame) -> int | None:
    """How many budgets the runs were planned at, or None when some were not planned (a sweep's runs)."""
    planned = runs["kind"].isin(KINDS) & runs["budget"].notna()
    if not planned.all():
        return None
    return len(set(zip(runs["kind"], runs["budget"].astype(float), strict=True)))


def repeats_data(runs: pd.DataFrame, U: float) -> bool:
    """Whether any run saw its data more than once (where the two forms differ)."""
    return bool(math.isfinite(U) and (runs["tokens"] > U).any())


def fit_forms(runs: pd.DataFrame, U: float, conv: str, start: dict | None = None) -> dict[str, Law | str]:
    """form -> one rung's law under `conv` (or why it cannot be fitted); `start`: form -> the law to refine from
    (a bootstrap replicate: only the forms that have one)."""
    N, D, L = law_inputs(runs, conv)
    out: dict[str, Law | str] = {}
    for form, constrained in FORMS.items():
        begin = (start or {}).get(form)
        if start is not None and not isinstance(begin, Law):
            continue
        if constrained and not repeats_data(runs, U) and "chinchilla" in out:
            out[form] = out["chinchilla"]
            continue
        out[form] = fit_law(N, D, L, U, constrained=constrained, start=begin, budgets=budget_count(runs))
    return out


def fit_laws(runs: pd.DataFrame, U: float, start: dict | None = None, conventions=tuple(CONVENTIONS)) -> dict:
    """(rung, convention, form) -> the law, or why it cannot be fitted. `start`: refine each from these laws."""
    out: dict[tuple, Law | str] = {}
    for rung, g in runs.groupby("rung", sort=True):
        for conv in conventions:
            begin = None if start is None else {f: start.get((rung, conv, f)) for f in FORMS}
            for form, law in fit_forms(g, U, conv, begin).items():
                out[(rung, conv, form)] = law
    return out
