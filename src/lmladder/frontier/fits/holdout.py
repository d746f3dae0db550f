"""Leave one budget out: each rung's law fitted without one of its budgets predicts that budget's runs, for every
budget in turn, and the error is in nats. The largest budget is the headline (a prediction one budget further out
than the fit saw); the others say whether the law's error is a trend with compute or noise. Each held-out fit
starts from its own grid (parametric.py), never from the law fitted on every budget: that law has seen the runs
it would predict."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from ..runs import CONVENTIONS
from .laws import FORMS, fit_forms, law_inputs
from .parametric import Law

NEEDS = "cannot fit: needs 3 budgets of one kind (2 to fit, 1 to predict)"


@dataclass(frozen=True)
class Holdout:
    kind: str  # the budget axis held out
    budget: float
    cells: int  # held-out (size) cells predicted
    mae: float  # mean |predicted - observed| over them, nats
    best_error: float  # predicted - observed at the held-out budget's best cell
    best_observed: float


def held_out_kind(g: pd.DataFrame) -> tuple[str, list[float]] | None:
    """The budget axis a rung's check leaves out budgets of (FLOPs, else seconds) and its budgets, ascending."""
    for kind in ("flops", "seconds"):
        budgets = g.loc[g["kind"] == kind, "budget"].dropna().unique()
        if len(budgets) >= 3:  # two budgets left to fit on
            return kind, sorted(float(b) for b in budgets)
    return None


def leave_one_out(runs: pd.DataFrame, U: float, conventions=tuple(CONVENTIONS)) -> dict[tuple, dict | str]:
    """(rung, convention, form) -> {budget: the check holding it out, or why there is none}, budgets ascending; or
    why the rung has no check at all."""
    out: dict[tuple, dict | str] = {}
    for rung, g in runs.groupby("rung", sort=True):
        which = held_out_kind(g)
        for conv in conventions:
            if which is None:
                out.update({(rung, conv, form): NEEDS for form in FORMS})
                continue
            kind, budgets = which
            checks: dict[str, dict] = {form: {} for form in FORMS}
            for budget in budgets:
                held = (g["kind"] == kind) & (g["budget"] == budget)
                for form, law in fit_forms(g[~held], U, conv).items():
                    ok = isinstance(law, Law)
                    checks[form][budget] = _check(law, g[held], conv, U, (kind, budget)) if ok else f"cannot fit: {law}"
            out.update({(rung, conv, form): c for form, c in checks.items()})
    return out


def headline(checks: dict | str) -> Holdout | str:
    """The check that holds out the largest budget (or why there is none)."""
    return checks if isinstance(checks, str) else checks[max(checks)]


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
