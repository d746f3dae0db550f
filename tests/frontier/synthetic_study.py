"""A synthetic frontier study as a real one comes out of `lmladder frontier run`: model families of the ladder (a GPT
and a GRU with Tiny Shakespeare's shapes), their three parameter counts and FLOPs per token from the models' own
`counts()` (attention's FLOPs included), whole optimizer steps of batch x window tokens (D = steps x tokens per
step, the FLOPs D x FLOPs per token: never exactly C = 6ND), each budget training the sizes whose tokens per
parameter fall in a band, and seconds from a throughput that grows with the size. The losses come from a known law
L = E + A/N^alpha + B/D^beta (N: all parameters) times exp(noise z): what the fitting tests recover.

`true_frontier` and `true_crossover` are the analytic answers: each rung's frontier is the best loss any of its
sizes reaches with C FLOPs (the law at D = C / FLOPs per token, no step rounding), and the crossover is where two
of them cross (brentq)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.optimize import brentq

from lmladder.frontier.runs import COLUMNS
from lmladder.models import rung_class

BATCH, WINDOW, VOCAB = 32, 64, 65
BUDGETS = (3e10, 1e11, 3e11, 1e12, 3e12, 1e13)
BAND = (1.5, 2000.0)  # tokens per parameter a budget trains (the preset's tokens_per_param)


@dataclass(frozen=True)
class Family:
    rung: str
    fields: dict  # size field -> values, zipped (a preset's `sizes`)
    law: dict  # E, A, alpha, B, beta
    fixed: dict = field(default_factory=dict)  # the model's other settings

    def shapes(self) -> list[dict]:
        keys = list(self.fields)
        return [dict(zip(keys, v, strict=True)) for v in zip(*self.fields.values(), strict=True)]

    def counts(self, shape: dict):
        return rung_class(self.rung).Config(vocab_size=VOCAB, **self.fixed, **shape).counts()


GPT = Family(
    "transformer",
    {"n_layer": [1, 2, 2, 2, 3, 4, 4, 6, 6], "n_embd": [16, 24, 32, 48, 64, 96, 128, 160, 192]},
    dict(E=1.03, A=40.0, alpha=0.42, B=160.0, beta=0.38),
    dict(block_size=WINDOW, n_head=4),
)
GRU = Family(
    "rnn",
    {"n_embd": [16, 24, 32, 48, 64, 96, 128, 128, 160], "n_hidden": [24, 32, 48, 64, 96, 128, 192, 256, 320]},
    dict(E=1.05, A=18.0, alpha=0.33, B=45.0, beta=0.3),
)


def law(N, D, E, A, alpha, B, beta):
    return E + A / np.power(N, alpha) + B / np.power(D, beta)


def seconds_per_token(counts) -> float:
    """A CPU's time per token: small matrices run at a fraction of its peak (2e9 FLOP/s past ~1e5 parameters)."""
    return counts.flops_per_token / (2e9 * counts.params / (counts.params + 1e5))


def runs(rng, families=(GPT, GRU), *, budgets=BUDGETS, seeds=2, noise=0.003, band=BAND, U=math.inf, laws=None):
    """One row per (rung, size, budget, seed), as runs.csv has them. `laws`: rung -> law, instead of the families'."""
    rows = []
    for fam in families:
        params = (laws or {}).get(fam.rung, fam.law)
        for C in budgets:
            for shape in fam.shapes():
                rows += _cell(rng, fam, shape, C, seeds, noise, band, U, params)
    return pd.DataFrame(rows, columns=COLUMNS)


def _cell(rng, fam, shape, C, seeds, noise, band, U, params) -> list[dict]:
    c = fam.counts(shape)
    steps = round(C / (c.flops_per_token * BATCH * WINDOW))
    D = steps * BATCH * WINDOW
    if steps < 1 or not band[0] <= D / c.params <= band[1]:
        return []
    size = ",".join(f"{k}={v}" for k, v in shape.items())
    out = []
    for s in range(seeds):
        loss = law(c.params, D, **params) * math.exp(noise * rng.standard_normal())
        out.append(dict(job=f"{fam.rung}/{size}/{C:g}/{s}", point="", status="ok", error="", rung=fam.rung,
                        tokenizer="char", size=size, N_params=c.params, N_nonemb=c.non_embedding,
                        N_matmul=c.matmul, flops_per_token=c.flops_per_token, kind="flops", budget=C, seed=s,
                        step=steps, tokens=D, epochs=D / U, flops=c.flops_per_token * D,
                        seconds=D * seconds_per_token(c), val_nll=loss, val_bpc=loss / math.log(2),
                        commit=""))  # fmt: skip
    return out


def cost_per_token(counts, axis: str) -> float:
    return counts.flops_per_token if axis == "flops" else seconds_per_token(counts)


def true_frontier(fam: Family, C: float, axis: str = "flops") -> float:
    """The best loss any of the family's sizes reaches with C FLOPs (or seconds) under its law."""
    counts = [fam.counts(shape) for shape in fam.shapes()]
    return min(law(c.params, C / cost_per_token(c, axis), **fam.law) for c in counts)


def true_crossover(a: Family = GPT, b: Family = GRU, lo=BUDGETS[0], hi=BUDGETS[-1], axis: str = "flops") -> float:
    """The compute at which a's frontier crosses b's (one crossing in [lo, hi])."""
    gap = lambda x: true_frontier(a, math.exp(x), axis) - true_frontier(b, math.exp(x), axis)
    return math.exp(brentq(gap, math.log(lo), math.log(hi), xtol=1e-10))
