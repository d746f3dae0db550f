"""The parametric loss law L(N, D) = E + A / N^alpha + B / D^beta (Hoffmann et al. 2022, "Chinchilla", approach 3),
and its data-constrained form with D' for D (Muennighoff et al. 2023, "Scaling Data-Constrained Language Models").

Fitted as Chinchilla and its Epoch AI replication (Besiroglu et al. 2024) do: a Huber loss (delta = 1e-3) on the
residuals of log L, minimised by L-BFGS-B over (log E, log A, log B, alpha, beta). The starts come from variable
projection: for each (alpha, beta) on a grid, E, A and B enter linearly, so non-negative least squares gives them;
the best few start the full minimisation. Repeated data: a run of D tokens over U unique ones counts as
D' = U + U R* (1 - exp(-R / R*)), R = D / U - 1 epochs repeated, R* fitted (Muennighoff et al.: about 15)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize, nnls

from .design import law_design

DELTA = 1e-3  # Huber's threshold on log-loss residuals (Chinchilla's)
EXPONENTS = np.linspace(0.05, 1.5, 12)  # the (alpha, beta) grid of the variable-projection starts
R_STARS = (1.0, 4.0, 15.0, 60.0)  # starts of R* (the data-constrained form)
REFINED = 4  # grid starts refined by the full minimisation
NAMES = ("E", "A", "alpha", "B", "beta", "R_star")


@dataclass(frozen=True)
class Law:
    """A fitted law: theta = (log E, log A, log B, alpha, beta[, log R*]); `loss` the summed Huber loss."""

    theta: tuple[float, ...]
    loss: float
    constrained: bool  # the data-constrained form (D' for D)

    def params(self) -> dict[str, float]:
        e, a, b, alpha, beta, *r = self.theta
        values = (math.exp(e), math.exp(a), alpha, math.exp(b), beta, math.exp(r[0]) if r else math.nan)
        return dict(zip(NAMES, values, strict=True))

    def at_bounds(self) -> list[str]:
        """The parameters the fit left at an edge of their range (E -> 0, an exponent at 3): not identified."""
        edges = {0: ("E", -10.0, None), 3: ("alpha", 0.01, 3.0), 4: ("beta", 0.01, 3.0)}
        if self.constrained:
            edges[5] = ("R*", math.log(0.1), math.log(1e4))
        return [
            n
            for i, (n, lo, hi) in edges.items()
            if abs(self.theta[i] - lo) < 1e-6 or (hi and abs(self.theta[i] - hi) < 1e-6)
        ]

    def predict(self, N: np.ndarray, D: np.ndarray, U: float) -> np.ndarray:
        """Predicted loss (nats) of runs of N parameters trained on D tokens of a corpus of U unique ones."""
        return np.exp(_log_pred(np.asarray(self.theta), np.log(N), D, U, self.constrained)[0])


def effective_data(D: np.ndarray, U: float, r_star: float) -> np.ndarray:
    """Muennighoff et al.'s D': unique tokens, plus repeats worth less and less (R* the half-life-like constant)."""
    R = np.maximum(D / U - 1.0, 0.0)
    return np.where(D > U, U + U * r_star * (1.0 - np.exp(-R / r_star)), D)


def _log_pred(theta, x, D, U, constrained):
    """log L per run, the softmax weights of its three terms, and d(log D')/d(log R*) (0 for the plain form)."""
    e, a, b, alpha, beta = theta[:5]
    if constrained:
        r_star = math.exp(theta[5])
        Dp = effective_data(D, U, r_star)
        R = np.maximum(D / U - 1.0, 0.0)
        grow = U * ((1 - np.exp(-R / r_star)) - (R / r_star) * np.exp(-R / r_star))  # dD'/dR*
        dy = np.where(D > U, grow * r_star / Dp, 0.0)
    else:
        Dp, dy = D, np.zeros_like(D)
    terms = np.stack([np.full_like(x, e), a - alpha * x, b - beta * np.log(Dp)])  # (3, n)
    top = terms.max(axis=0)
    w = np.exp(terms - top)
    s = w.sum(axis=0)
    return top + np.log(s), w / s, dy


def _objective(theta, x, D, U, logL, constrained):
    pred, w, dy = _log_pred(theta, x, D, U, constrained)
    r = pred - logL
    huber = np.where(np.abs(r) <= DELTA, 0.5 * r**2, DELTA * (np.abs(r) - 0.5 * DELTA))
    g = np.clip(r, -DELTA, DELTA)  # dHuber/dr
    y = np.log(effective_data(D, U, math.exp(theta[5])) if constrained else D)
    grad = [g @ w[0], g @ w[1], g @ w[2], -(g * w[1]) @ x, -(g * w[2]) @ y]
    if constrained:
        grad.append(-(g * w[2] * theta[4]) @ dy)
    # in units of DELTA^2, so L-BFGS-B's absolute tolerances see the residuals' own scale, not ~1e-6
    return float(huber.sum()) / DELTA**2, np.asarray(grad) / DELTA**2


def _bounds(logL: np.ndarray, constrained: bool) -> list[tuple[float, float]]:
    b = [(-10.0, float(logL.max()) + 1.0), (-20.0, 60.0), (-20.0, 60.0), (0.01, 3.0), (0.01, 3.0)]
    return b + [(math.log(0.1), math.log(1e4))] if constrained else b


def _starts(N, D, L, U, constrained) -> list[np.ndarray]:
    """Variable projection: for each (alpha, beta[, R*]) the non-negative E, A, B of least squares in L; the best
    REFINED of them as starts."""
    scored = []
    for r_star in R_STARS if constrained else (None,):
        Dp = effective_data(D, U, r_star) if r_star else D
        for alpha in EXPONENTS:
            for beta in EXPONENTS:
                X = np.stack([np.ones_like(N), N**-alpha, Dp**-beta], axis=1)  # (n, 3)
                coef, resid = nnls(X, L)
                e, a, b = np.log(np.maximum(coef, 1e-8))
                theta = [e, a, b, alpha, beta] + ([math.log(r_star)] if r_star else [])
                scored.append((resid, theta))
    scored.sort(key=lambda t: t[0])
    return [np.asarray(t) for _, t in scored[:REFINED]]


def fit_law(
    N, D, L, U: float = math.inf, *, constrained: bool = False, start: Law | None = None, budgets: int | None = None
) -> Law | str:
    """The law through runs (N parameters, D tokens, loss L), or why it cannot be fitted (design.py). `U`: the
    corpus's unique tokens (the data-constrained form needs it). `start`: refine from this law alone (a bootstrap
    replicate). `budgets`: how many budgets the runs were planned at, where known."""
    N, D, L = (np.asarray(v, dtype=float) for v in (N, D, L))
    if why := law_design(N, D, 6 if constrained else 5, budgets):
        return why
    if constrained and not np.isfinite(U):
        return "the corpus's unique tokens are unknown"
    x, logL = np.log(N), np.log(L)
    starts = [np.asarray(start.theta)] if start is not None else _starts(N, D, L, U, constrained)
    best = None
    for theta0 in starts:
        res = minimize(
            _objective, theta0, args=(x, D, U, logL, constrained), jac=True, method="L-BFGS-B",
            bounds=_bounds(logL, constrained), options={"maxiter": 5000},
        )  # fmt: skip
        if np.isfinite(res.fun) and (best is None or res.fun < best.fun):
            best = res
    if best is None:
        return "the minimisation found no finite optimum"
    return Law(tuple(float(t) for t in best.x), float(best.fun) * DELTA**2, constrained)


def huber_objective(theta, N, D, L, U=math.inf, constrained=False) -> float:
    """The summed Huber loss of `theta` on these runs (what fit_law minimises), for checks."""
    args = (np.log(N), np.asarray(D, float), U, np.log(L), constrained)
    return _objective(np.asarray(theta, dtype=float), *args)[0] * DELTA**2
