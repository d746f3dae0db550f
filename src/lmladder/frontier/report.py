"""A fit written out: runs.csv, one CSV per table, the figures, report.md and metrics.json (the headline numbers,
for `dvc metrics show` / `dvc exp show`), swapped into the output folder at once (a failed fit leaves the old one).
The same runs give the same bytes: the bootstrap is seeded and nothing records the time."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd

from ..io import atomic_directory
from .figures import draw_all
from .fits import tables
from .fits.analysis import Results
from .fits.crossover_table import crossovers
from .runs import CONVENTIONS

DOC = "docs/frontier.md"


def write_fit(res: Results, out: Path, *, title: str, corpus: str) -> dict:
    """Everything into `out`; returns the headline numbers (metrics.json)."""
    t = {
        "profiles": tables.profiles(res),
        "power_laws": tables.power_laws(res),
        "crossovers": crossovers(res),
        "laws": tables.laws(res),
        "holdout": tables.holdout(res),
        "leave_one_out": tables.leave_one_out(res),
    }
    headline = _headline(res, t, corpus)
    with atomic_directory(out) as tmp:
        res.runs.to_csv(tmp / "runs.csv", index=False)
        for name, df in t.items():
            df.to_csv(tmp / f"{name}.csv", index=False)
        figures = draw_all(res, tmp)
        (tmp / "report.md").write_text(_markdown(res, t, figures, title, corpus), encoding="utf-8")
        (tmp / "metrics.json").write_text(
            json.dumps(_clean(headline), indent=2, sort_keys=True) + "\n", encoding="utf-8"
        )
    return headline


def _headline(res: Results, t: dict[str, pd.DataFrame], corpus: str) -> dict:
    status = res.runs["status"].value_counts()
    out: dict = {"corpus": corpus, "train_tokens": res.train_tokens, "references": dict(sorted(res.references.items()))}
    out["runs"] = {k: int(status.get(k, 0)) for k in ("ok", "failed", "incomplete")}
    for r in t["crossovers"].to_dict("records"):
        at = {k: r.get(k) for k in ("crossover", "lo", "hi", "share", "lower", "measured", "statement")}
        out.setdefault("crossover", {}).setdefault(r["axis"], {})[f"{r['a']}_vs_{r['b']}"] = at
    for r in t["power_laws"].to_dict("records"):
        e = {k: r[k] for k in ("a", "a_lo", "a_hi", "b", "b_lo", "b_hi", "note")}
        out.setdefault("exponents", {}).setdefault(r["rung"], {}).setdefault(r["kind"], {})[r["convention"]] = e
    for r in t["laws"].to_dict("records"):
        e = {k: r.get(k) for k in ("E", "alpha", "beta", "R_star", "note")}
        out.setdefault("laws", {}).setdefault(r["rung"], {}).setdefault(r["form"], {})[r["convention"]] = e
    for r in t["holdout"].to_dict("records"):
        e = {k: r[k] for k in r if k.endswith(("_mae", "_best_error")) or k in ("budget", "note")}
        out.setdefault("holdout_nats", {}).setdefault(r["rung"], {})[r["convention"]] = e
    for r in t["leave_one_out"].to_dict("records"):
        at = out.setdefault("leave_one_out_nats", {}).setdefault(r["rung"], {}).setdefault(r["form"], {})
        e = {k: r.get(k) for k in ("mae", "best_error", "note")}
        budget = r.get("budget")
        at.setdefault(r["convention"], {})[f"{budget:g}" if budget == budget and budget is not None else "all"] = e
    return out


def _clean(x):
    """NaN and infinities as null: metrics.json is strict JSON."""
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def _md(df: pd.DataFrame, cols: list[str] | None = None) -> str:
    if df.empty:
        return "(none)\n"
    df = df[[c for c in (cols or df.columns) if c in df.columns]]
    return df.to_markdown(index=False, floatfmt=".4g") + "\n"


PROFILE_COLUMNS = ["rung", "kind", "budget", "convention", "sizes", "N_star", "N_star_lo", "N_star_hi", "D_star",
                   "loss_star", "note"]  # fmt: skip
LAW_COLUMNS = ["rung", "convention", "form", "E", "E_lo", "E_hi", "alpha", "alpha_lo", "alpha_hi", "beta", "beta_lo",
               "beta_hi", "R_star", "huber", "note"]  # fmt: skip


LOO_INTRO = (
    "Per rung and form, one row per budget held out: the mean |predicted - observed| over its sizes (mae) and the "
    "error at its best size (best), under each parameter convention. The largest budget is the headline above; an "
    "error that grows with the budget held out is a trend the law's form misses, not noise.\n"
)


def _crossover_intro(res: Results) -> str:
    laws = "; ".join(f"{rung}: {form}, N as {conv}" for rung, (conv, form) in sorted(res.optimal.forms.items()))
    return (
        "Each crossover is where two rungs' law frontiers cross (a rung's law frontier: the lowest loss its fitted "
        f"law predicts for any of its sizes at that compute; dashed in the figures; the laws: {laws}), with its "
        "bootstrap interval; the measured frontiers' crossing, straight between budgets, is given beside it without "
        "one: it carries the interpolation's bias.\n"
    )


def _leave_one_out(res: Results, loo: pd.DataFrame) -> list[str]:
    """One table per rung and form: budgets as rows, each convention's errors as columns (or why none)."""
    if loo.empty:
        return ["(none)\n"]
    out = []
    for (rung, form), g in loo.groupby(["rung", "form"], sort=True):
        out.append(f"**{rung}, {form}**\n")
        if form != "chinchilla" and all(tables.same_form(res, rung, c) for c in g["convention"].unique()):
            out.append("The chinchilla law itself: no run of this rung repeats its data.\n")
            continue
        if "budget" not in g or g["budget"].isna().all():
            out.append(f"{g['note'].iloc[0]}\n")
            continue
        if "mae" not in g or g["mae"].isna().all():  # no budget's check could be fitted: each one's reason
            out.append(_md(g[["budget", "note"]].sort_values("budget").reset_index(drop=True)))
            continue
        wide = g.pivot_table(index="budget", columns="convention", values=["mae", "best_error"], aggfunc="first")
        wide.columns = [f"{conv} {what.replace('_error', '')}" for what, conv in wide.columns]
        order = [f"{c} {w}" for c in CONVENTIONS for w in ("mae", "best") if f"{c} {w}" in wide.columns]
        notes = g[g["note"].fillna("") != ""].groupby("budget")["note"].first()
        table = wide[order].join(notes.rename("note"), how="outer") if len(notes) else wide[order]
        table = table.reset_index()
        out.append(_md(table.sort_values("budget")))
    return out


def _intro(res: Results, title: str, corpus: str) -> str:
    runs, used = res.runs, res.used
    status = ", ".join(f"{n} {s}" for s, n in runs["status"].value_counts().sort_index().items())
    boot = (
        f"Intervals: 95% percentile bootstrap over {res.n_boot} replicates that redraw each run's seed-to-seed "
        f"deviation (rungs with a point of two seeds: {', '.join(sorted(res.noisy))})."
        if res.n_boot
        else "No intervals: no point was run with two seeds or more, so there is no seed noise to resample."
    )
    epochs = pd.to_numeric(used["epochs"], errors="coerce")
    return (
        f"# {title}\n\nCorpus `{corpus}`: {res.train_tokens:,.0f} unique train tokens. {len(runs)} runs ({status}); "
        f"the fits use the {len(used)} finished runs of trained rungs, {epochs.min():.3g} to {epochs.max():.3g} "
        f"epochs. {boot} How to read this page: {DOC} in the lmladder repository.\n"
    )


def _markdown(res: Results, t: dict[str, pd.DataFrame], figures: list[str], title: str, corpus: str) -> str:
    pictures = lambda *starts: [f"![{f}]({f})\n" for f in figures if f.startswith(starts)]
    lines = [
        _intro(res, title, corpus),
        "## Compute frontiers and crossovers\n",
        *pictures("frontier_"),
        _crossover_intro(res),
        _md(t["crossovers"], ["statement", "range"]),
        "## isoFLOP and iso-second profiles\n",
        *pictures("isoflops_", "isoseconds_"),
        _md(t["profiles"], PROFILE_COLUMNS),
        "## Power laws: N* ~ C^a, D* ~ C^b, under each parameter convention\n",
        *pictures("optimal_size_"),
        _md(t["power_laws"]),
        "## Parametric law L(N, D) = E + A/N^alpha + B/D^beta (Huber on log L; data-constrained: D' for D)\n",
        *pictures("residuals"),
        _md(t["laws"], LAW_COLUMNS),
        "## Held-out check: fitted without the largest budget, predicting it (nats)\n",
        _md(t["holdout"]),
        "## Leave one budget out: each budget predicted by the law fitted on the others (nats)\n",
        LOO_INTRO,
        *_leave_one_out(res, t["leave_one_out"]),
    ]
    bad = res.runs[res.runs["status"] != "ok"]
    if len(bad):
        lines += ["## Runs not used\n", _md(bad, ["job", "status", "error"])]
    return "\n".join(lines)
