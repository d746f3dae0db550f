"""Degenerate designs on realistic runs (whole optimizer steps, attention's FLOPs, parameters counted three ways:
synthetic_study.py) say "cannot fit" with the reason in every table, report.md and metrics.json, never numbers:
one budget, budgets too close to tell N from D, one size, too few sizes per budget, no vertex."""

import dataclasses
import json
import math

import numpy as np
import pytest

from lmladder.frontier.fits import tables
from lmladder.frontier.fits.analysis import fit_study
from lmladder.frontier.fits.crossover_table import crossovers
from lmladder.frontier.fits.design import MAX_CONDITION, condition, law_design
from lmladder.frontier.fits.parametric import Law, fit_law
from lmladder.frontier.report import write_fit
from lmladder.frontier.runs import CONVENTIONS

from . import synthetic_study as syn


def study(budgets, families=(syn.GPT, syn.GRU), seed=0, **kw):
    return syn.runs(np.random.default_rng(seed), families, budgets=budgets, **kw)


def test_one_budget_says_cannot_fit_everywhere(tmp_path):
    df = study([1e12])
    for (rung, _), g in df.groupby(["rung", "kind"]):
        for col in CONVENTIONS.values():
            X = np.stack([np.ones(len(g)), np.log(g[col]), np.log(g["tokens"])], axis=1)
            assert np.linalg.matrix_rank(X, tol=1e-6) == 3, (rung, col)  # the old guard let these through
    res = fit_study(df, train_tokens=math.inf, n_boot=20)
    laws = tables.laws(res)
    assert len(laws) == 2 * 3 * 2 and laws[["E", "alpha", "beta"]].isna().all().all()
    assert laws["note"].str.startswith("cannot fit: one budget").all()
    p = tables.power_laws(res)
    assert p["a"].isna().all() and p["note"].str.contains(r"^cannot fit: needs a vertex .* \(has 1\)").all()
    assert tables.holdout(res)["note"].str.startswith("cannot fit: needs 3 budgets").all()
    loo = tables.leave_one_out(res)
    assert loo["note"].str.startswith("cannot fit: needs 3 budgets").all() and "mae" not in loo
    cross = crossovers(res)
    assert len(cross) == 2 and cross["crossover"].isna().all()
    why = "cannot fit: rnn's law (chinchilla, N as params): one budget"
    assert cross["statement"].str.contains(why, regex=False).all()
    metrics = write_fit(res, tmp_path / "fit", title="t", corpus="c")
    report = (tmp_path / "fit" / "report.md").read_text()
    assert report.count("cannot fit: one budget") >= 12 and "cannot fit: needs 3 budgets" in report
    saved = json.loads((tmp_path / "fit" / "metrics.json").read_text())
    assert saved == json.loads(json.dumps(saved)) and metrics["laws"]["transformer"]["chinchilla"]["params"]["E"] != 0
    law = saved["laws"]["transformer"]["chinchilla"]["params"]
    assert law["E"] is None and law["note"].startswith("cannot fit: one budget")
    assert saved["crossover"]["flops"]["rnn_vs_transformer"]["crossover"] is None
    assert saved["exponents"]["rnn"]["flops"]["params"]["note"].startswith("cannot fit:")
    assert saved["leave_one_out_nats"]["rnn"]["chinchilla"]["params"]["all"]["note"].startswith("cannot fit:")


@pytest.mark.parametrize(("apart", "fits"), [(1.05, False), (1.2, False), (3.0, True)])
def test_budgets_too_close_cannot_tell_n_from_d(apart, fits):
    df = study([1e12, 1e12 * apart], families=(syn.GPT,))
    N, D, L = (df[c].to_numpy(float) for c in ("N_params", "tokens", "val_nll"))
    law = fit_law(N, D, L, budgets=2)
    if fits:
        assert isinstance(law, Law) and condition(np.log(N), np.log(D)) < 5
    else:
        assert isinstance(law, str) and law.startswith("log N and log D move together (condition number")
        assert f"over {MAX_CONDITION:g}" in law


def test_one_size_per_rung():
    gpt = dataclasses.replace(syn.GPT, fields={"n_layer": [2], "n_embd": [48]})
    res = fit_study(study(syn.BUDGETS, families=(gpt,), band=(0, math.inf)), train_tokens=math.inf, n_boot=0)
    prof = tables.profiles(res)
    assert prof["N_star"].isna().all() and prof["note"].str.startswith("cannot fit: 1 size(s)").all()
    assert tables.laws(res)["note"].str.startswith("cannot fit: one size").all()


def test_too_few_sizes_per_budget_and_no_vertex():
    """Two sizes at each budget: no parabola; the three smallest GPTs at the three largest budgets: the loss still
    falls at the largest size, so no vertex inside the sizes. Neither gives a power law; both give a law."""
    pair = dataclasses.replace(syn.GPT, fields={k: v[3:6:2] for k, v in syn.GPT.fields.items()})
    two = study(syn.BUDGETS, families=(pair,), band=(0, math.inf), seed=1)
    assert two.groupby("budget")["size"].nunique().eq(2).all()
    small = dataclasses.replace(syn.GPT, fields={k: v[:3] for k, v in syn.GPT.fields.items()})
    edge = study(syn.BUDGETS[3:], families=(small,), band=(0, math.inf), seed=2)
    for df, why in [(two, "cannot fit: 2 size(s): a parabola needs 3"), (edge, "cannot fit: vertex outside")]:
        res = fit_study(df, train_tokens=math.inf, n_boot=0, conventions=("params",))
        prof = tables.profiles(res)
        assert prof["N_star"].isna().all() and prof["note"].str.startswith(why).all(), prof["note"].tolist()
        p = tables.power_laws(res).iloc[0]
        assert math.isnan(p["a"]) and p["note"].startswith("cannot fit: needs a vertex inside the sizes")
        assert isinstance(res.laws[("transformer", "params", "chinchilla")], Law)


def test_condition_is_the_correlations():
    """The standardised design's condition number is sqrt((1 + |r|) / (1 - |r|)), whatever the units."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal(50)
    for mix in (0.0, 0.5, 0.99, 0.9999):
        y = -mix * x + math.sqrt(1 - mix**2) * rng.standard_normal(50)
        r = abs(np.corrcoef(x, y)[0, 1])
        want = math.sqrt((1 + r) / (1 - r))
        assert math.isclose(condition(x, y), want, rel_tol=1e-6)
        assert math.isclose(condition(3 * x + 7, 1e-3 * y - 2), want, rel_tol=1e-6)
    assert condition(x, np.ones(50)) == math.inf


def test_distinct_points_not_runs_count():
    """Three (N, D) points run with two seeds each are 6 runs but 3 points: too few for 5 parameters."""
    N, D = np.repeat([1e4, 3e4, 1e5], 2), np.repeat([1e7, 2e6, 1e6], 2)
    assert law_design(N, D, 5, budgets=2) == "3 distinct (N, D) points for 5 parameters; add sizes or budgets"


def test_data_constrained_row_is_the_chinchilla_law_without_repeats():
    df = study(syn.BUDGETS[:4], families=(syn.GRU,))
    res = fit_study(df, train_tokens=math.inf, n_boot=5, conventions=("params",))
    a, b = res.laws[("rnn", "params", "chinchilla")], res.laws[("rnn", "params", "data_constrained")]
    assert a is b
    assert res.boot_laws[("rnn", "params", "chinchilla")] == res.boot_laws[("rnn", "params", "data_constrained")]
    row = tables.laws(res).query("form == 'data_constrained'").iloc[0]
    assert "the chinchilla law itself" in row["note"] and math.isnan(row["R_star"])
