"""A study's whole fit: the point estimates (estimates.py, laws.py, optimal.py) on the finished runs, the same again
on bootstrap replicates of them (bootstrap.py) for the intervals, the held-out checks (holdout.py), and the tables
and headline numbers (tables.py). The fits run with one BLAS thread: their matrices have a few rows, and on a busy
machine OpenBLAS's threads waiting for each other made L-BFGS-B twenty times slower."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from ..preset import FrontierError
from ..runs import CONVENTIONS
from .bootstrap import cells, pools, replicates
from .estimates import Estimates, estimate, reference_levels
from .holdout import leave_one_out
from .laws import fit_laws
from .optimal import LawFrontiers, frontier_design, law_frontiers
from .parametric import Law


@dataclass
class Results:
    runs: pd.DataFrame  # every run read (runs.csv)
    used: pd.DataFrame  # the finished runs of trained rungs, which the fits use
    references: dict[str, float]  # count models: label -> val NLL
    train_tokens: float
    est: Estimates
    laws: dict[tuple, Law | str]
    holdouts: dict[tuple, dict | str]  # (rung, convention, form) -> {budget: held out} (holdout.py), or why none
    optimal: LawFrontiers  # the laws' frontiers and their crossings (optimal.py)
    boot: dict[tuple, list[float]] = field(default_factory=dict)  # estimate key -> its replicate values
    boot_laws: dict[tuple, list[tuple]] = field(default_factory=dict)  # law key -> replicate thetas
    n_boot: int = 0  # replicates drawn (0: no cell has two seeds, nothing to resample)
    noisy: frozenset = frozenset()  # the rungs with a seed-noise estimate: the others get no intervals


def usable_runs(runs: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(finished runs of trained rungs with their tokens known, finished count-model runs), or a one-line error
    when there is nothing to fit."""
    finite = pd.to_numeric(runs["val_nll"], errors="coerce").map(math.isfinite)
    ok = runs[(runs["status"] == "ok") & finite]
    if ok.empty:
        errors = runs.loc[runs["status"] != "ok", "error"].dropna()
        first = f" (the first: {errors.iloc[0]})" if len(errors) else ""
        raise FrontierError(
            f"none of the {len(runs)} runs finished with a finite val NLL{first}; fix what they say and run the "
            "study again (`lmladder frontier run`), then fit"
        )
    counted = ok["N_matmul"].isna()
    trained = ok[~counted]
    trained = trained[pd.to_numeric(trained["tokens"], errors="coerce").gt(0)]
    if trained.empty:
        raise FrontierError(
            f"{len(ok)} finished runs, none of a trained rung with its tokens known (timing.json); a frontier "
            "needs runs of mlp, rnn, transformer, ... : run the study's grid, then fit"
        )
    return trained.reset_index(drop=True), ok[counted].reset_index(drop=True)


def fit_study(
    runs: pd.DataFrame, *, train_tokens: float, n_boot: int = 200, seed: int = 0, conventions=None
) -> Results:
    """Fit everything on `runs` (runs.csv's table); `train_tokens`: the corpus's unique train targets; N counted
    each of the `conventions` ways (default all: runs.CONVENTIONS)."""
    with threadpool_limits(1):
        return _fit(runs, float(train_tokens), n_boot, seed, tuple(conventions or CONVENTIONS))


def _fit(runs: pd.DataFrame, U: float, n_boot: int, seed: int, conv: tuple) -> Results:
    used, refs = usable_runs(runs)
    levels = reference_levels(refs)
    laws = fit_laws(used, U, None, conv)
    design = frontier_design(used, U, conv)
    optimal = law_frontiers(design, laws, levels, U)
    res = Results(runs, used, levels, U, estimate(used, levels, conv), laws, leave_one_out(used, U, conv), optimal)
    res.est.values.update(optimal.values)
    cell = cells(used[["rung", "size", "kind", "budget"]].assign(budget=used["budget"].fillna(used["step"])))
    group, rung_names = used["rung"].factorize(sort=True)
    loss = used["val_nll"].to_numpy(float)
    res.noisy = frozenset(rung_names[g] for g in pools(loss, cell, group))
    if not res.noisy or n_boot < 1:
        return res
    boot, boot_laws = defaultdict(list), defaultdict(list)
    for values in replicates(loss, cell, group, n_boot, np.random.default_rng(seed)):
        rep = used.assign(val_nll=values)
        rep_laws = fit_laws(rep, U, res.laws, conv)
        found = estimate(rep, levels, conv).values | law_frontiers(design, rep_laws, levels, U).values
        for key in res.est.values:
            boot[key].append(found.get(key, math.nan))
        for key, law in rep_laws.items():
            boot_laws[key].append(law.theta if isinstance(law, Law) else None)
    res.boot, res.boot_laws, res.n_boot = dict(boot), dict(boot_laws), n_boot
    return res
