"""A fit's pictures (PNG): every rung's frontier on one plot per compute axis with the count model as a horizontal
line, each rung's isoFLOP (iso-second) profiles with their vertices, N* against the budget with its power law, and
the parametric law's residuals. The same runs draw the same bytes: fixed PNG metadata, no timestamps."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..io import atomic_writer
from .fits.analysis import Results
from .fits.envelope import Envelope
from .fits.estimates import AXES, cell_means
from .fits.laws import law_inputs
from .fits.parametric import Law
from .fits.tables import UNITS

META = {"Software": "lmladder", "Title": None, "Author": None, "Description": None}
FIGURE_CONVENTION = "params"  # the parameter count the profiles are drawn against


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> None:
    plt = _plt()
    try:
        with atomic_writer(path) as f:
            fig.savefig(f, format="png", dpi=100, metadata=META)
    finally:
        plt.close(fig)


def draw_all(res: Results, out: Path) -> list[str]:
    """Every picture that applies, into `out`; their file names."""
    names = []
    for axis in AXES:
        if any(a == axis for a, _ in res.est.envelopes):
            names.append(frontier(res, axis, out / f"frontier_{axis}.png"))
    for rung, kind in sorted({(r, k) for r, k, _, _ in res.est.profiles}):
        names.append(profiles(res, rung, kind, out / f"iso{kind}_{rung}.png"))
    for kind in sorted({k for _, k, _, _ in res.est.profiles}):
        names.append(optimal_sizes(res, kind, out / f"optimal_size_{kind}.png"))
    if any(isinstance(v, Law) for v in res.laws.values()):
        names.append(residuals(res, out / "residuals.png"))
    return names


def frontier(res: Results, axis: str, path: Path) -> str:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    means = cell_means(res.used)
    for i, rung in enumerate(sorted(r for a, r in res.est.envelopes if a == axis)):
        g = means[(means["rung"] == rung) & np.isfinite(means[axis].astype(float))]
        env = res.est.envelopes[(axis, rung)]
        ax.scatter(g[axis], g["val_nll"], s=12, alpha=0.35, color=f"C{i}")
        ax.plot(np.exp(env.log_c), env.loss, "o-", color=f"C{i}", label=f"{rung} (frontier)")
        law = res.optimal.frontiers.get((axis, rung))
        if isinstance(law, Envelope):
            ax.plot(np.exp(law.log_c), law.loss, "--", lw=1, color=f"C{i}", label=f"{rung} (its law's frontier)")
        for (ax_, a, b), c in _crossings(res).items():
            if ax_ == axis and a == rung and math.isfinite(c.log_c):
                ax.axvline(math.exp(c.log_c), color="grey", ls=":", lw=1)
                ax.annotate(f"{a}/{b}", (math.exp(c.log_c), 1.0), xycoords=("data", "axes fraction"), fontsize=7,
                            rotation=90, va="top", ha="right")  # fmt: skip
    for j, (label, level) in enumerate(sorted(res.references.items())):
        ax.axhline(level, color="k", ls="--", lw=1, alpha=0.6 - 0.1 * j, label=f"{label} (count model)")
    ax.set_xscale("log")
    ax.set_xlabel(f"training compute ({UNITS[axis]})")
    ax.set_ylabel("val NLL (nats/token, exact)")
    what = "training FLOPs" if axis == "flops" else "seconds of training on this machine"
    ax.set_title(f"Compute frontier: each rung's best loss for the {what}")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    fig.tight_layout()
    _save(fig, path)
    return path.name


def _crossings(res: Results) -> dict:
    """The crossovers drawn: the laws' frontiers' where both rungs have a law, else the measured frontiers'."""
    return res.est.crossings | res.optimal.crossings


def profiles(res: Results, rung: str, kind: str, path: Path) -> str:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    col = {"params": "N_params", "non_embedding": "N_nonemb", "matmul": "N_matmul"}[FIGURE_CONVENTION]
    budgets = sorted(b for r, k, b, c in res.est.profiles if r == rung and k == kind and c == FIGURE_CONVENTION)
    for i, budget in enumerate(budgets):
        g = res.used[(res.used["rung"] == rung) & (res.used["kind"] == kind) & (res.used["budget"] == budget)]
        p = res.est.profiles[(rung, kind, budget, FIGURE_CONVENTION)]
        label = f"{budget:.3g} {UNITS[kind]}"
        ax.scatter(g[col], g["val_nll"], s=14, color=f"C{i}", label=label)
        if math.isfinite(p.coef[0]):
            x = np.linspace(np.log(g[col].min()), np.log(g[col].max()), 100)
            ax.plot(np.exp(x), np.polyval(p.coef, x), color=f"C{i}", lw=1)
        if math.isfinite(p.log_n_star):
            ax.plot(math.exp(p.log_n_star), p.loss_star, "*", ms=12, color=f"C{i}", mec="k",
                    alpha=1.0 if p.inside else 0.4)  # fmt: skip
    ax.set_xscale("log")
    ax.set_xlabel("parameters N (all)")
    ax.set_ylabel("val NLL (nats/token)")
    ax.set_title(
        f"{rung}: iso-{'FLOP' if kind == 'flops' else 'second'} profiles (star: vertex, pale: outside the sizes)"
    )
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7, title="budget")
    fig.tight_layout()
    _save(fig, path)
    return path.name


def optimal_sizes(res: Results, kind: str, path: Path) -> str:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    rungs = sorted({r for r, k, _, _ in res.est.profiles if k == kind})
    for i, rung in enumerate(rungs):
        pts = [(b, p) for (r, k, b, c), p in sorted(res.est.profiles.items())
               if r == rung and k == kind and c == FIGURE_CONVENTION and p.usable]  # fmt: skip
        if not pts:
            continue
        C = np.array([b for b, _ in pts])
        N = np.exp([p.log_n_star for _, p in pts])
        ax.plot(C, N, "o", color=f"C{i}", label=rung)
        if len(C) >= 2:
            slope, icpt = np.polyfit(np.log(C), np.log(N), 1)
            ax.plot(C, np.exp(icpt) * C**slope, "-", color=f"C{i}", lw=1, label=f"{rung}: N* ~ C^{slope:.2f}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(f"budget ({UNITS[kind]})")
    ax.set_ylabel("N* (all parameters)")
    ax.set_title("Best model size per budget (isoprofile vertices inside the sizes)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    fig.tight_layout()
    _save(fig, path)
    return path.name


def residuals(res: Results, path: Path) -> str:
    """The parametric law's log-loss residuals (chinchilla form, all parameters) against compute, per rung."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for i, rung in enumerate(sorted(res.used["rung"].unique())):
        law = res.laws.get((rung, FIGURE_CONVENTION, "chinchilla"))
        if not isinstance(law, Law):
            continue
        g = res.used[res.used["rung"] == rung]
        N, D, L = law_inputs(g, FIGURE_CONVENTION)
        ax.scatter(g["flops"], np.log(law.predict(N, D, res.train_tokens)) - np.log(L), s=12, color=f"C{i}", label=rung)
    ax.axhline(0, color="k", lw=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("training compute (FLOPs)")
    ax.set_ylabel("log L predicted - log L observed")
    ax.set_title("Parametric law L = E + A/N^a + B/D^b: residuals")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    fig.tight_layout()
    _save(fig, path)
    return path.name
