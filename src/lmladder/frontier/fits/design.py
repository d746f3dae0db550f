"""Whether a set of runs can identify the parametric law L = E + A/N^alpha + B/D^beta at all, and if not, why.

A study's runs of one budget lie on one curve in (log N, log D): each size trades parameters for tokens, and the
law's N and D terms cannot be told apart along it. Real runs never lie on it exactly (whole optimizer steps,
attention's FLOPs, N counted as parameters rather than FLOPs / 6 move log N + log D by up to ~0.3), so an absolute
rank test on [1, log N, log D] passes them all. The test here is relative: the condition number of the design
with log N and log D each centred and scaled to unit spread, sqrt((1 + |r|) / (1 - |r|)) for their correlation r,
whatever their units. On the synthetic Tiny Shakespeare studies of the tests (tests/frontier/synthetic_study.py)
one budget gives 90 to 30,000, two budgets 5% apart 60 to 90, 20% apart about 20, 3x apart 4, six budgets 1.1."""

from __future__ import annotations

import numpy as np

# log D's part not explained by log N under 13% of its spread. On those synthetic studies two budgets 20% apart
# (condition 18-24) gave E 0.47 for a true 1.03 in one draw of four; 1.5x apart (8-11) came within 0.2
MAX_CONDITION = 15.0


def condition(log_n: np.ndarray, log_d: np.ndarray) -> float:
    """The condition number of the standardised design [1, log N, log D] (inf where a column is constant)."""
    X = np.stack([log_n, log_d], axis=1)
    spread = X.std(axis=0)
    if not (spread > 0).all():
        return float("inf")
    Z = np.column_stack([np.ones(len(X)), (X - X.mean(axis=0)) / spread])
    s = np.linalg.svd(Z, compute_uv=False)
    return float(s[0] / s[-1]) if s[-1] > 0 else float("inf")


def law_design(N: np.ndarray, D: np.ndarray, n_params: int, budgets: int | None = None) -> str | None:
    """Why runs of N parameters and D tokens cannot identify a law of `n_params` parameters, or None when they can.
    `budgets`: how many budgets the runs were planned at (None: not all were planned; the conditioning decides)."""
    if len(np.unique(N)) < 2:
        return "one size (N takes one value): the law's N term cannot be told from its constant; add sizes"
    if len(np.unique(D)) < 2:
        return "D takes one value: the law's D term cannot be told from its constant; train for other lengths"
    if budgets == 1:
        return (
            "one budget: its sizes trade N for D along one curve, where the law's N and D terms cannot be told "
            "apart; add budgets"
        )
    points = len(set(zip(N.tolist(), D.tolist(), strict=True)))
    if points <= n_params:
        return f"{points} distinct (N, D) points for {n_params} parameters; add sizes or budgets"
    c = condition(np.log(N), np.log(D))
    if c > MAX_CONDITION:
        return (
            f"log N and log D move together (condition number {c:.0f} of the standardised [1, log N, log D], over "
            f"{MAX_CONDITION:g}): the law's N and D terms cannot be told apart; add budgets further apart"
        )
    return None
