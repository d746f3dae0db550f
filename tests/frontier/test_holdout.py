"""Leave one budget out: every budget of every rung is predicted by the law fitted on the others, each check a fit
of its own (never started from the law that saw the budget), reported per rung and law in report.md and
metrics.json, with the largest budget as the headline."""

import json
import math
import re

import numpy as np
import pandas as pd

from lmladder.frontier.fits import tables
from lmladder.frontier.fits.analysis import fit_study
from lmladder.frontier.fits.parametric import fit_law
from lmladder.frontier.report import write_fit

from . import synthetic_study as syn

BUDGETS = syn.BUDGETS[1:5]


def test_every_budget_is_held_out_in_turn(tmp_path):
    df = syn.runs(np.random.default_rng(4), budgets=BUDGETS)
    res = fit_study(df, train_tokens=math.inf, n_boot=0, conventions=("params",))
    loo = tables.leave_one_out(res)
    assert len(loo) == 2 * 2 * len(BUDGETS)  # rungs x forms x budgets
    for _, g in loo.groupby(["rung", "form"]):
        assert sorted(g["budget"]) == list(BUDGETS) and g["headline"].tolist() == [False] * 3 + [True]
        assert (g["mae"] < 0.02).all() and (g["cells"] >= 3).all()
    # the headline is the held-out check of the largest budget
    top = loo[loo["headline"] & (loo["form"] == "chinchilla")].set_index("rung")
    head = tables.holdout(res).set_index("rung")
    assert np.allclose(top["mae"], head.loc[top.index, "chinchilla_mae"])
    # each check is a fit without its budget, predicting it: the same as fitting those runs directly
    g = df[df["rung"] == "rnn"]
    held = g["budget"] == BUDGETS[1]
    law = fit_law(*(g.loc[~held, c].to_numpy(float) for c in ("N_params", "tokens", "val_nll")), budgets=3)
    pred = pd.Series(law.predict(g.loc[held, "N_params"], g.loc[held, "tokens"], math.inf), index=g.index[held])
    cells = pd.DataFrame({"size": g.loc[held, "size"], "err": pred - g.loc[held, "val_nll"]}).groupby("size").mean()
    row = loo.query("rung == 'rnn' and form == 'chinchilla' and budget == @BUDGETS[1]").iloc[0]
    assert math.isclose(row["mae"], cells["err"].abs().mean(), rel_tol=1e-9)

    write_fit(res, tmp_path / "fit", title="t", corpus="c")
    report = (tmp_path / "fit" / "report.md").read_text()
    section = report[report.index("## Leave one budget out") :]
    for rung in ("rnn", "transformer"):
        table = section[section.index(f"**{rung}, chinchilla**") :].splitlines()
        assert re.match(r"\|\s+budget \|\s+params mae \|\s+params best \|$", table[2])
        assert [float(line.split("|")[1]) for line in table[4:8]] == list(BUDGETS)
        same = section[section.index(f"**{rung}, data_constrained**") :].splitlines()[2]
        assert same == "The chinchilla law itself: no run of this rung repeats its data."
    saved = json.loads((tmp_path / "fit" / "metrics.json").read_text())
    per_budget = saved["leave_one_out_nats"]["transformer"]["chinchilla"]["params"]
    assert sorted(per_budget) == sorted(f"{b:g}" for b in BUDGETS)
    assert all(0 < v["mae"] < 0.02 for v in per_budget.values())
    assert (tmp_path / "fit" / "leave_one_out.csv").is_file()


def test_a_study_whose_every_check_cannot_fit_says_why_per_budget(tmp_path):
    """Two sizes a rung (a tiny study): no held-out check can be fitted. report.md says why for each budget; it
    raised KeyError 'mae' before (every error NaN, so the table had no error column)."""
    df = syn.runs(np.random.default_rng(4), budgets=syn.BUDGETS[1:4])
    two = df.groupby("rung")["size"].transform(lambda s: s.isin(sorted(s.unique())[:2]))
    res = fit_study(df[two].reset_index(drop=True), train_tokens=math.inf, n_boot=0, conventions=("params",))
    write_fit(res, tmp_path / "fit", title="t", corpus="c")
    report = (tmp_path / "fit" / "report.md").read_text()
    section = report[report.index("## Leave one budget out") :]
    table = section[section.index("**transformer, chinchilla**") :].splitlines()
    assert re.match(r"\|\s+budget \|\s+note\s+\|$", table[2])
    assert all("cannot fit: " in line for line in table[4:7])
