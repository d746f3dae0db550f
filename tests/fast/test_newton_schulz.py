"""Muon's Newton-Schulz batched over the matrices of one shape (fast/newton_schulz.py) against the textbook lines
(nn/muon.py's newton_schulz): float32 rounding apart, tall and wide matrices, both coefficient sets."""

import numpy as np
import pytest

from lmladder.fast import share
from lmladder.fast.newton_schulz import orthogonalise
from lmladder.nn.muon import NS_COEFFS, NS_EPS, NS_SAFETY, newton_schulz

pytest.importorskip("lmladder.fast.kernels_blas")


def _one(job):
    g, steps, coeffs = job
    return newton_schulz(g, steps, coeffs=coeffs)


@pytest.mark.parametrize("coeffs,steps", [("polar_express", 5), ("jordan", 5), ("jordan", 2), ("polar_express", 1)])
@pytest.mark.parametrize("threads", [1, 2])
def test_batched_newton_schulz_is_the_textbooks_to_rounding(coeffs, steps, threads):
    rng = np.random.default_rng(0)
    shapes = [(32, 32)] * 3 + [(96, 32), (32, 96), (96, 32), (17, 5)]
    jobs = [(rng.standard_normal(s).astype(np.float32), steps, coeffs) for s in shapes]
    share.pin(threads)
    try:
        got = orthogonalise(jobs, (NS_COEFFS, NS_SAFETY, NS_EPS), _one)
    finally:
        share.pin(None)
    for g, job in zip(got, jobs, strict=True):
        ref = _one(job)
        assert g.shape == ref.shape and g.dtype == np.float32
        np.testing.assert_allclose(g, ref, rtol=1e-4, atol=1e-5)


def test_float64_matrices_take_the_textbook_lines():
    rng = np.random.default_rng(1)
    jobs = [(rng.standard_normal((8, 4)), 5, "jordan")]
    got = orthogonalise(jobs, (NS_COEFFS, NS_SAFETY, NS_EPS), _one)
    np.testing.assert_array_equal(got[0], _one(jobs[0]))
