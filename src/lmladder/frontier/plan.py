"""A study's grid: every (rung, size, budget, seed) point as one ordinary training run, its step count derived from
its budget. A FLOP budget C buys C / (FLOPs per token x tokens per step) steps (models/base.py: Counts); a budget of
T seconds buys T x tokens/s / tokens per step, tokens/s measured on this machine (calibrate.py). A point's config
is the complete composed config of its run (rung, seed, data and the rung's settings), so the run is an ordinary
`python stages/train.py` job that any launcher can start."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ..data.batching import doc_bounds
from ..data.prepared import Prepared
from ..models.base import Counts
from .preset import FrontierError

MAX_STEPS = 10**8  # a point's steps: 28 hours at a millisecond a step (the smallest models here), months for most


@dataclass(frozen=True)
class Size:
    """One model of a rung's size axis, with what its budgets are converted by."""

    rung: str
    fields: dict[str, Any]  # the size axis's values: {"n_layer": 2, "n_embd": 64}
    counts: Counts
    tokens_per_step: float  # trained targets per optimizer step, on average over the data
    warmup_iters: int  # the schedule's warmup: a budget must buy more steps than this
    config: dict[str, Any]  # the run's composed config (rung, data, paths, <rung>), seed and max_iters unset
    tokens_per_s: float | None = None  # measured (calibrate.py) when the study has seconds budgets

    @property
    def label(self) -> str:
        return ",".join(f"{k}={v}" for k, v in self.fields.items())


@dataclass(frozen=True)
class Point:
    id: str  # its run folder's name
    rung: str
    size: str  # Size.label, or "" for a reference run
    seed: int
    kind: str  # "flops" | "seconds" | "reference"
    budget: float | None
    max_iters: int | None  # None: the reference run's own
    planned_tokens: float | None
    tokens_per_step: float | None
    counts: dict[str, int] = field(default_factory=dict)
    tokens_per_s: float | None = None
    config: dict[str, Any] = field(default_factory=dict)
    trunk: str | None = None  # a cool-down branch: the point whose snapshot it goes on from (branches.py)
    branch_step: int | None = None  # and the step of that snapshot, where its cool-down starts

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def train_targets(data: Prepared) -> int:
    """The train split's distinct targets, what one epoch trains on: every token after a document's start (lines), or
    every token but the first (stream)."""
    train = np.asarray(data.splits["train"])
    if data.kind == "lines":
        starts, ends = doc_bounds(train, data.boundary_id)
        return int((ends - starts).sum())
    return len(train) - 1


def tokens_per_step(data: Prepared, *, batch_size: int, seq_len: int, grad_accum: int, last: bool) -> float:
    """Trained targets per step on average (training/batches.py): one per row with targets=last; a stream's every
    window position; a lines corpus's documents, cropped to seq_len, drawn uniformly."""
    rows = batch_size * grad_accum
    if last:
        return float(rows)
    if data.kind != "lines":
        return float(rows * seq_len)
    starts, ends = doc_bounds(np.asarray(data.splits["train"]), data.boundary_id)
    return float(rows * np.mean(np.minimum(ends - starts + 1, seq_len + 1) - 1))


def budget_tag(kind: str, budget: float) -> str:
    """A budget as a folder-name word: 3e11flops, 2p5e11flops, 90s."""
    text = f"{budget:.3g}".replace("e+", "e").replace(".", "p")
    return f"{text}flops" if kind == "flops" else f"{text}s"


def size_tag(fields: dict[str, Any]) -> str:
    return "_".join(f"{k}{str(v).replace('.', 'p')}" for k, v in fields.items())


def steps_for(size: Size, kind: str, budget: float) -> int:
    """The optimizer steps a budget buys for this size; fewer than one step, or than the warmup, is refused."""
    per_step = size.tokens_per_step * (size.counts.flops_per_token if kind == "flops" else 1.0)
    if kind == "flops":
        steps = budget / per_step
        cost = f"one step costs {per_step:.3g} FLOPs"
    else:
        steps = budget * size.tokens_per_s / size.tokens_per_step
        cost = f"one step takes {size.tokens_per_step / size.tokens_per_s:.3g} s (calibrated)"
    if steps > MAX_STEPS:
        raise FrontierError(
            f"budgets.{kind}={budget:g} buys {steps:.3g} steps of {size.rung} {size.label} ({cost}), more than the "
            f"{MAX_STEPS:.0e} one run may plan (a day of CPU time at a millisecond a step); lower the largest budget "
            "or add larger sizes"
        )
    n = int(round(steps))
    if n < max(1, size.warmup_iters + 1):
        need = f"more than optim.schedule.warmup_iters={size.warmup_iters} steps" if size.warmup_iters else "one step"
        raise FrontierError(
            f"budgets.{kind}={budget:g} buys {steps:.3g} steps of {size.rung} {size.label} ({cost}), not {need}; "
            f"raise the smallest budget or drop that size"
        )
    return n


def make_points(
    sizes: list[Size],
    budgets: dict[str, tuple[float, ...]],
    seeds: dict[str, tuple[int, ...]],
    bands: dict[str, tuple[float, float]] | None = None,
) -> list[Point]:
    """Every (size, budget, seed) point whose tokens per parameter lie in its rung's band (`bands`; none: every
    point), cheapest budgets first (a grid cut short has its small runs done)."""
    bands = {s.rung: (bands or {}).get(s.rung, (0.0, math.inf)) for s in sizes}
    points = []
    for kind, values in budgets.items():
        for budget in values:
            for s in sizes:
                tokens = budget / s.counts.flops_per_token if kind == "flops" else budget * s.tokens_per_s
                if not bands[s.rung][0] <= tokens / s.counts.params <= bands[s.rung][1]:
                    continue  # far from this budget's optimum: a point its profile does not need
                n = steps_for(s, kind, budget)
                for seed in seeds[s.rung]:
                    pid = f"{s.rung}_{size_tag(s.fields)}_{budget_tag(kind, budget)}_s{seed}"
                    config = _with_steps(s.config, s.rung, seed, n)
                    counts = asdict(s.counts)
                    p = Point(pid, s.rung, s.label, seed, kind, budget, n, n * s.tokens_per_step, s.tokens_per_step,
                              counts, s.tokens_per_s, config)  # fmt: skip
                    points.append(p)
    _every_rung_kept(sizes, budgets, bands, points)
    order = {k: i for i, k in enumerate(budgets)}
    points.sort(key=lambda p: (order[p.kind], p.budget, p.rung, p.id))
    if len({p.id for p in points}) < len(points):
        raise FrontierError("two points of the grid share a folder name; make the sizes of each rung distinct")
    return points


def _every_rung_kept(sizes: list[Size], budgets: dict, bands: dict, points: list[Point]) -> None:
    """A rung whose every (size, budget) lies outside the tokens_per_param band would vanish from the study: refused,
    with the tokens per parameter its grid does span."""
    kept = {p.rung for p in points}
    for rung in dict.fromkeys(s.rung for s in sizes):
        if rung in kept:
            continue
        ratios = [
            (b / s.counts.flops_per_token if kind == "flops" else b * s.tokens_per_s) / s.counts.params
            for kind, values in budgets.items()
            for b in values
            for s in sizes
            if s.rung == rung
        ]
        lo, hi = f"{min(ratios):.3g}", f"{max(ratios):.3g}"
        band = bands[rung]
        raise FrontierError(
            f"tokens_per_param=[{band[0]:g}, {band[1]:g}] keeps no point of {rung}: its sizes and budgets give "
            f"{lo if lo == hi else f'{lo} to {hi}'} tokens per parameter; widen the band, or change the budgets "
            "or sizes"
        )


def reference_point(rung: str, config: dict[str, Any], seed: int) -> Point:
    """A run off the grid (a count model): trained once at its own settings, drawn as a horizontal line."""
    return Point(
        f"ref_{rung}_s{seed}", rung, "", seed, "reference", None, None, None, None, config={**config, "seed": seed}
    )


def _with_steps(config: dict[str, Any], rung: str, seed: int, steps: int) -> dict[str, Any]:
    """The run's config at `steps`: the schedule spans the whole budget; the loss is estimated at the start and the
    end only (the exact score comes after), and a checkpoint is kept every twentieth of the run."""
    part = dict(config[rung])
    part["train"] = {
        **part["train"],
        "max_iters": steps,
        "eval": {**part["train"].get("eval", {}), "interval": steps},
        "checkpoint": {**part["train"].get("checkpoint", {}), "interval": max(1, math.ceil(steps / 20))},
    }
    return {**config, "seed": seed, rung: part}
