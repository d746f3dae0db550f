"""The statistics of reports/significance.py against direct NumPy computations on small inputs and scipy.stats."""

import numpy as np
import pytest
from scipy import stats

from lmladder.reports import significance as sig


def units(rng, n=7):
    tokens = rng.integers(2, 9, n).astype(float)
    return np.stack([tokens * rng.uniform(1.5, 3.0, n), tokens, tokens + 1], axis=1)  # (U, 3): nll, tokens, chars


def direct_draws(n_units, resamples, seed):
    """The same draws as significance._draws, one resample at a time."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, n_units, size=(resamples, n_units))  # (R, U) unit indices


def test_resampled_sums_are_sums_over_the_drawn_units():
    v = units(np.random.default_rng(1))
    idx = direct_draws(len(v), 50, sig.SEED)
    assert np.allclose(sig.resampled_sums(v, resamples=50), v[idx].sum(axis=1))


@pytest.mark.parametrize("n_units", [7, 300])  # 1,200 resamples: three chunks, the last a short one
def test_kept_draws_give_the_same_bits_as_fresh_ones(monkeypatch, n_units):
    """A second call with the same units reuses the first call's draws (significance.KEEP_BYTES); its sums are the
    fresh draws' to the bit, for other values too, and a draw too large to keep is drawn afresh each time."""
    rng = np.random.default_rng(3)
    v, w = rng.normal(size=(n_units, 2)), rng.normal(size=(n_units, 6))
    monkeypatch.setattr(sig, "_kept", {})
    first = sig.resampled_sums(v, resamples=1200)
    assert list(sig._kept) == [(n_units, 1200, sig.SEED)]
    again, other = sig.resampled_sums(v, resamples=1200), sig.resampled_sums(w, resamples=1200)
    monkeypatch.setattr(sig, "KEEP_BYTES", 0)  # nothing kept: every call draws
    monkeypatch.setattr(sig, "_kept", {})
    assert np.array_equal(again, first) and np.array_equal(other, sig.resampled_sums(w, resamples=1200))
    assert np.array_equal(first, sig.resampled_sums(v, resamples=1200)) and sig._kept == {}


def test_paired_interval_and_p_value_match_a_direct_computation():
    rng = np.random.default_rng(2)
    a, b = units(rng), units(rng)
    b[:, 1:] = a[:, 1:]  # the same text: the same tokens and characters per unit
    idx = direct_draws(len(a), 200, sig.SEED)
    stat = b[idx, 0].sum(1) / b[idx, 1].sum(1) - a[idx, 0].sum(1) / a[idx, 1].sum(1)  # (R,)
    got = sig.paired(a, b, resamples=200)
    assert got["nll_delta"] == pytest.approx(b[:, 0].sum() / b[:, 1].sum() - a[:, 0].sum() / a[:, 1].sum())
    assert (got["nll_lo"], got["nll_hi"]) == pytest.approx(tuple(np.percentile(stat, [2.5, 97.5])))
    assert got["nll_p"] == pytest.approx(min(1, 2 * min((stat <= 0).mean(), (stat >= 0).mean())))
    bpc = (b[idx, 0].sum(1) / b[idx, 2].sum(1) - a[idx, 0].sum(1) / a[idx, 2].sum(1)) / np.log(2)
    assert got["bpc_lo"] == pytest.approx(np.percentile(bpc, 2.5))
    assert sig.paired(a, b, resamples=200) == got  # seeded: the same inputs, the same numbers


def test_a_model_against_itself_is_exactly_zero_and_not_significant():
    a = units(np.random.default_rng(3), n=50)
    got = sig.paired(a, a)
    assert (got["nll_delta"], got["nll_lo"], got["nll_hi"], got["nll_p"]) == (0.0, 0.0, 0.0, 1.0)
    assert sig.verdict(got["nll_delta"], got["nll_p"]) == "not significant"


def test_a_clear_difference_is_significant_with_its_direction():
    a = units(np.random.default_rng(4), n=200)
    b = a.copy()
    b[:, 0] *= 0.9
    got = sig.paired(a, b)
    assert got["nll_hi"] < 0 and got["nll_p"] == 0.0
    assert sig.verdict(got["nll_delta"], got["nll_p"]) == "better"
    assert sig.verdict(-got["nll_delta"], got["nll_p"]) == "worse"
    assert sig.verdict(got["nll_delta"], got["nll_p"], p_welch=0.2, welch_delta=-0.1) == "not significant"
    assert sig.verdict(got["nll_delta"], got["nll_p"], p_welch=0.01, welch_delta=+0.1) == "not significant"
    assert sig.verdict(got["nll_delta"], got["nll_p"], p_welch=0.01, welch_delta=-0.1) == "better"


@pytest.mark.parametrize("n_a, n_b", [(2, 2), (3, 5), (10, 4)])
def test_welch_matches_scipy(n_a, n_b):
    rng = np.random.default_rng(n_a * 10 + n_b)
    x, y = rng.normal(2.0, 0.01, n_a), rng.normal(2.01, 0.03, n_b)
    t, p = sig.welch(x.mean(), x.std(ddof=1), n_a, y.mean(), y.std(ddof=1), n_b)
    ref = stats.ttest_ind(y, x, equal_var=False)
    assert (t, p) == pytest.approx((ref.statistic, ref.pvalue), rel=1e-9)


def test_the_interval_of_one_side_covers_its_mean():
    a = units(np.random.default_rng(5), n=100)
    lo, hi = sig.nll_interval(a)
    assert lo < a[:, 0].sum() / a[:, 1].sum() < hi
