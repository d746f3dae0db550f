"""The fits against data drawn from a known law with noise (C = 6ND: the exponents' theory), against scipy where
scipy answers the same question, and on failed runs and NaN losses. Degenerate designs on realistic runs:
test_design.py; the crossover's coverage: test_crossover.py."""

import json
import math
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from scipy import optimize, stats

from lmladder.frontier.fits import tables
from lmladder.frontier.fits.analysis import fit_study
from lmladder.frontier.fits.crossover_table import crossovers
from lmladder.frontier.fits.envelope import Envelope, crossing
from lmladder.frontier.fits.parametric import DELTA, effective_data, fit_law, huber_objective
from lmladder.frontier.fits.profiles import fit_profile, power_law
from lmladder.frontier.preset import FrontierError

from . import synthetic as syn

BUDGETS = [1e15, 3e15, 1e16, 3e16, 1e17]
ONE = ("params",)  # synthetic runs count N one way: every convention gives the same fit


def sizes(budgets=BUDGETS, per_decade=5, margin=0.6):
    """A fixed size axis (as a study's), spanning the optimal sizes of all budgets and a margin around them."""
    lo, hi = (math.log10(syn.n_opt(c, **syn.TRUE)) for c in (budgets[0], budgets[-1]))
    return np.logspace(lo - margin, hi + margin, int((hi - lo + 2 * margin) * per_decade) + 1)


def draw(seed, **kw):
    return syn.runs(np.random.default_rng(seed), budgets=BUDGETS, sizes=sizes(), **kw)


def law_row(res, form="chinchilla"):
    t = tables.laws(res)
    return t[(t["convention"] == "params") & (t["form"] == form)].iloc[0]


def test_recovers_the_exponents_of_a_known_law():
    res = fit_study(draw(0), train_tokens=math.inf, n_boot=100, conventions=ONE)
    p = tables.power_laws(res).iloc[0]
    assert p["budgets"] == len(BUDGETS)
    assert abs(p["a"] - syn.exponent_a()) < 0.02 and abs(p["b"] - (1 - syn.exponent_a())) < 0.02
    assert p["a_lo"] < p["a"] < p["a_hi"]
    law = law_row(res)
    for name in ("alpha", "beta", "E"):
        assert law[f"{name}_lo"] <= syn.TRUE[name] <= law[f"{name}_hi"], (name, law[name])
    assert abs(law["alpha"] - syn.TRUE["alpha"]) < 0.03 and abs(law["beta"] - syn.TRUE["beta"]) < 0.03


@pytest.mark.slow
def test_coverage_of_the_intervals_over_many_draws():
    """How often the 95% intervals hold the true exponents (docs/frontier.md states the rates measured here)."""
    draws, hits = 40, {"a": 0, "alpha": 0, "beta": 0}
    for seed in range(draws):
        res = fit_study(draw(100 + seed), train_tokens=math.inf, n_boot=100, conventions=ONE)
        p, law = tables.power_laws(res).iloc[0], law_row(res)
        hits["a"] += p["a_lo"] <= syn.exponent_a() <= p["a_hi"]
        for name in ("alpha", "beta"):
            hits[name] += law[f"{name}_lo"] <= syn.TRUE[name] <= law[f"{name}_hi"]
    rates = {k: v / draws for k, v in hits.items()}
    print(f"coverage over {draws} draws: {rates}")
    assert all(r >= 0.85 for r in rates.values()), rates  # measured: a 0.975, alpha 0.975, beta 0.925


LEAST_SQUARES = """
import json, sys
import numpy as np
from scipy import optimize
N, D, L, t0, delta = (np.asarray(v) for v in json.load(sys.stdin))
def residuals(t):
    e, a, b, alpha, beta = t
    return np.logaddexp(np.logaddexp(e, a - alpha * np.log(N)), b - beta * np.log(D)) - np.log(L)
r = optimize.least_squares(residuals, t0, loss="huber", f_scale=float(delta), xtol=1e-12, ftol=1e-12, gtol=1e-12)
print(json.dumps(r.x.tolist()))
"""


def scipy_least_squares(N, D, L, t0) -> np.ndarray:
    """scipy's least_squares with its own Huber loss, in a fresh interpreter: in a process that has loaded
    lmladder.fast.kernels_blas (NumPy's 64-bit OpenBLAS in the global symbol table) scipy.linalg's LAPACK calls fail
    ("Too large work array required"), and the suite loads it before this test."""
    data = json.dumps([N.tolist(), D.tolist(), L.tolist(), list(t0), DELTA])
    out = subprocess.run([sys.executable, "-c", LEAST_SQUARES], input=data, capture_output=True, text=True,
                         timeout=120, check=True)  # fmt: skip
    return np.asarray(json.loads(out.stdout))


def test_parametric_fit_reaches_scipy_least_squares_optimum():
    """Huber on log residuals, minimised two ways: L-BFGS-B from variable-projection starts (ours) and scipy's
    least_squares with its Huber loss (the same objective) started from the truth."""
    df = draw(3)
    N, D, L = df["N_params"].to_numpy(), df["tokens"].to_numpy(), df["val_nll"].to_numpy()
    ours = fit_law(N, D, L)
    t0 = [
        math.log(syn.TRUE["E"]),
        math.log(syn.TRUE["A"]),
        math.log(syn.TRUE["B"]),
        syn.TRUE["alpha"],
        syn.TRUE["beta"],
    ]
    ref = scipy_least_squares(N, D, L, t0)
    theirs = huber_objective(ref, N, D, L)
    assert ours.loss <= theirs * (1 + 1e-6) + 1e-12
    assert np.allclose(ours.theta[3:5], ref[3:5], atol=5e-3)


def test_profile_and_power_law_match_scipy():
    rng = np.random.default_rng(1)
    x = np.repeat(np.log(np.logspace(4, 6, 5)), 2)
    y = 0.3 * (x - 11.5) ** 2 + 2.0 + 0.01 * rng.standard_normal(len(x))
    p = fit_profile(x, y, np.log(1e9 / np.exp(x)))
    coef, _ = optimize.curve_fit(lambda v, a, b, c: a * v * v + b * v + c, x, y)
    assert math.isclose(p.log_n_star, -coef[1] / (2 * coef[0]), rel_tol=1e-6)
    assert p.inside and abs(p.log_n_star - 11.5) < 0.1
    c, n = np.log([1e12, 1e13, 1e14]), np.log([1e4, 3.3e4, 0.9e5])
    slope, _ = power_law(c, n)
    assert math.isclose(slope, stats.linregress(c, n).slope, rel_tol=1e-9)


def test_crossover_where_two_known_frontiers_cross():
    """A: L = 3 - 0.2 log10 C, B: L = 2.6 - 0.15 log10 C: A falls below B at log10 C = 8 (brentq agrees)."""
    c = np.logspace(6, 10, 9)
    a = Envelope.of(c, 3 - 0.2 * np.log10(c))
    b = Envelope.of(c, 2.6 - 0.15 * np.log10(c))
    x = crossing(a, b)
    root = optimize.brentq(lambda v: np.interp(v, a.log_c, a.loss) - np.interp(v, b.log_c, b.loss), 14, 22)
    assert x.below_at_end and x.changes == 1
    assert math.isclose(x.log_c, root, rel_tol=1e-3) and abs(math.exp(x.log_c) - 1e8) / 1e8 < 0.01


def test_crossover_between_rungs_with_its_interval():
    fast = syn.runs(np.random.default_rng(5), budgets=BUDGETS, sizes=sizes(), rung="gru",
                    params=dict(syn.TRUE, E=1.9, A=200.0, alpha=0.3))  # fmt: skip
    slow = syn.runs(np.random.default_rng(6), budgets=BUDGETS, sizes=sizes(), rung="transformer")
    res = fit_study(pd.concat([fast, slow], ignore_index=True), train_tokens=math.inf, n_boot=50, conventions=ONE)
    row = crossovers(res).query("axis == 'flops'").iloc[0]
    assert row["lower"] == "transformer" and BUDGETS[0] < row["crossover"] < BUDGETS[-1]
    assert row["lo"] <= row["crossover"] <= row["hi"] and row["share"] > 0.9
    assert BUDGETS[0] < row["measured"] < BUDGETS[-1]
    assert "transformer falls below gru at" in row["statement"] and "the measured frontiers" in row["statement"]


def test_data_constrained_law_wins_where_data_repeat():
    """Runs of 0.5 to 40 epochs drawn from Muennighoff's law (R* = 5): the data-constrained form predicts the
    held-out budget better than Chinchilla's, and finds R*."""
    U, params = 3e9, dict(syn.TRUE)
    df = syn.runs(np.random.default_rng(7), budgets=[3e18, 1e19, 3e19, 1e20], sizes=np.logspace(8, 9.5, 7), U=U)
    Dp = effective_data(df["tokens"].to_numpy(), U, 5.0)
    df["val_nll"] = syn.law(df["N_params"].to_numpy(), Dp, **params) * np.exp(
        0.002 * np.random.default_rng(8).standard_normal(len(df))
    )
    assert df["epochs"].max() > 10 and df["epochs"].min() < 1
    res = fit_study(df, train_tokens=U, n_boot=0, conventions=ONE)
    h = tables.holdout(res).iloc[0]
    assert h["better"] == "data_constrained" and h["data_constrained_mae"] < h["chinchilla_mae"]
    assert 2 < law_row(res, "data_constrained")["R_star"] < 12


def test_one_seed_gives_no_interval_rather_than_a_zero_width_one():
    res = fit_study(draw(0, seeds=1), train_tokens=math.inf, n_boot=50, conventions=ONE)
    p = tables.power_laws(res).iloc[0]
    assert res.n_boot == 0 and math.isfinite(p["a"]) and math.isnan(p["a_lo"])


def test_failed_and_nan_runs_are_left_out():
    df = draw(0)
    df.loc[:3, "val_nll"] = np.nan  # diverged
    df.loc[4:6, ["status", "error"]] = ["failed", "non-finite loss"]
    res = fit_study(df, train_tokens=math.inf, n_boot=0, conventions=ONE)
    assert len(res.used) == len(df) - 7


@pytest.mark.parametrize("how", ["failed", "nan"])
def test_nothing_to_fit_is_one_line(how):
    df = draw(0, seeds=1)
    if how == "failed":
        df["status"], df["error"] = "failed", "non-finite loss at step 3"
    else:
        df["val_nll"] = np.nan
    with pytest.raises(FrontierError, match=r"none of the \d+ runs finished") as e:
        fit_study(df, train_tokens=math.inf)
    assert "\n" not in str(e.value)


def test_the_same_runs_give_the_same_numbers():
    df = draw(2)
    a = fit_study(df, train_tokens=math.inf, n_boot=30, conventions=ONE)
    b = fit_study(df, train_tokens=math.inf, n_boot=30, conventions=ONE)
    for make in (tables.profiles, tables.power_laws, tables.laws, crossovers, tables.holdout, tables.leave_one_out):
        assert make(a).to_csv() == make(b).to_csv()
