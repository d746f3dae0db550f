"""Runs drawn from a known law (Chinchilla's form, C = 6ND), with noise on log L: what the fitting tests recover."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from lmladder.frontier.runs import COLUMNS

TRUE = dict(E=1.7, A=400.0, alpha=0.34, B=410.0, beta=0.28)  # Hoffmann et al.'s fitted values, rounded


def law(N, D, E, A, alpha, B, beta):
    return E + A / np.power(N, alpha) + B / np.power(D, beta)


def n_opt(C, E, A, alpha, B, beta):
    """The compute-optimal N under C = 6 N D: G (C/6)^(beta/(alpha+beta))."""
    G = (alpha * A / (beta * B)) ** (1 / (alpha + beta))
    return G * (C / 6) ** (beta / (alpha + beta))


def exponent_a(alpha=TRUE["alpha"], beta=TRUE["beta"]) -> float:
    return beta / (alpha + beta)


def runs(rng, *, budgets, sizes, seeds=2, noise=0.003, rung="transformer", params=TRUE, kind="flops", U=None):
    """One row per (size, budget, seed): N parameters (every convention alike), D = C / (6 N) tokens, the law's
    loss times exp(noise * z). `U`: unique tokens (the epochs column)."""
    rows = []
    for C in budgets:
        for i, N in enumerate(sizes):
            D = C / (6 * N)
            for s in range(seeds):
                L = law(N, D, **params) * math.exp(noise * rng.standard_normal())
                rows.append(dict(job=f"{rung}/{i}/{C:g}/{s}", point="", status="ok", error="", rung=rung,
                                 tokenizer="char", size=f"N{i}", N_params=N, N_nonemb=N, N_matmul=N,
                                 flops_per_token=6 * N, kind=kind, budget=C, seed=s, step=100, tokens=D,
                                 epochs=D / U if U else math.nan, flops=C, seconds=C / 1e9, val_nll=L,
                                 val_bpc=L / math.log(2), commit=""))  # fmt: skip
    return pd.DataFrame(rows, columns=COLUMNS)
