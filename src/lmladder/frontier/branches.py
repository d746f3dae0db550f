"""Cool-down branches (the preset's `branches:`, docs/frontier.md): every budget of a (rung, size, seed) measured from
one stable run, as Hägele et al. (2024) do.

On a warmup-stable-decay schedule every step before the cool-down runs at the warmup's or the peak rate, whatever
the run's length (nn/schedules.py: WarmupStableDecay.cooldown_start). So the run of a budget of N steps is, up to
its cool-down's start k, the run of any larger budget of the same size and seed. The point of the largest budget,
the *trunk*, keeps its state at each smaller budget's k (train.checkpoint.snapshots); each smaller budget's point, a
*branch*, goes on from that snapshot (its folder seeded with the trunk's checkpoint, timing and logs, then
resume=true) to its own N, cooling down over its last steps. Its files are then those of the separate run of its
budget, bit for bit: the same weights, optimizer moments and random streams at k (batches, evaluation, dropout),
the same best-so-far, and the same rates after (tests/frontier/test_branches.py). Only the time differs: the
branch's timing.json counts the trunk's measured seconds for the k shared steps, then its own.

A branch is an ordinary point of the plan with `trunk` and `branch_step` set; `run` trains every other point
first, then seeds and trains the branches (launch_phases)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..nn.schedules import WarmupStableDecay
from ..training.snapshots import BEST, LAST, TIMING, copy_file, snapshot_files
from .plan import Point
from .preset import FrontierError
from .study import RUNS, point_state


def cooldown_override(rung: str, frac: float) -> str:
    """The Hydra override that gives `rung`'s schedule the preset's cool-down share (every point of it, trunk, branch
    or a budget of its own: a branch is the separate run of its budget only if that run cools down alike)."""
    return f"{rung}.optim.schedule.wsd.cooldown_frac={frac!r}"


def check_schedule(rung: str, optim: Any, frac: float, where: str) -> None:
    """`rung`'s optimizer settings (OptimSettings) must give a warmup-stable-decay schedule whose cool-down ends at
    each run's last step and takes `frac` of its steps."""
    schedule = optim.schedule
    if schedule.name != "wsd":
        raise FrontierError(
            f"{where}: branches need every rung on the warmup-stable-decay schedule, and rungs.{rung} trains on "
            f"the {schedule.name} schedule; add {rung}.optim.schedule.name=wsd to rungs.{rung}.overrides, or remove "
            "branches:"
        )
    if schedule.decay_iters is not None:
        raise FrontierError(
            f"{where}: rungs.{rung} sets optim.schedule.decay_iters, so its cool-down would not end at each budget's "
            "last step; remove that override to use branches (or remove branches:)"
        )
    if schedule.wsd.cooldown_frac != frac:  # the override did not reach the schedule (a renamed key)
        raise FrontierError(f"{where}: rungs.{rung} cools down over {schedule.wsd.cooldown_frac} of its steps, not "
                            f"the branches' {frac}; report this (the schedule's key moved)")  # fmt: skip


def cooldown_start(frac: float, steps: int) -> int:
    """The step where a run of `steps` on the wsd schedule cooling down over `frac` of them starts its cool-down."""
    return WarmupStableDecay(lr=1.0, total=steps, cooldown_frac=frac).cooldown_start


def with_branches(points: list[Point], frac: float) -> list[Point]:
    """`points` with each (rung, size, seed)'s largest budget as the trunk (checkpoint.snapshots in its config) and its
    smaller budgets as branches from it. A budget whose cool-down would start at step 0 stays a run of its own."""
    groups: dict[tuple, list[Point]] = {}
    for p in points:
        if p.kind != "reference":
            groups.setdefault((p.rung, p.size, p.seed), []).append(p)
    changed: dict[str, Point] = {}
    for group in groups.values():
        trunk = max(group, key=lambda p: p.max_iters)  # the first of the largest, in plan order
        steps = {p.id: cooldown_start(frac, p.max_iters) for p in group if p is not trunk}
        steps = {pid: k for pid, k in steps.items() if k >= 1}
        if not steps:
            continue
        for p in group:
            if p.id in steps:
                changed[p.id] = replace(p, trunk=trunk.id, branch_step=steps[p.id])
        part = trunk.config[trunk.rung]
        checkpoint = {**part["train"]["checkpoint"], "snapshots": sorted(set(steps.values()))}
        train = {**part["train"], "checkpoint": checkpoint}
        changed[trunk.id] = replace(trunk, config={**trunk.config, trunk.rung: {**part, "train": train}})
    return [changed.get(p.id, p) for p in points]


def own_tokens(point: dict[str, Any]) -> float:
    """The tokens a point of plan.json trains itself: a branch's trunk trained its first branch_step steps."""
    if not point.get("branch_step"):
        return point["planned_tokens"]
    return point["planned_tokens"] * (1 - point["branch_step"] / point["max_iters"])


def describe(points: list[Point], frac: float) -> str:
    """One line: how many stable runs and branches, and the share of the separate runs' steps they train."""
    trained = [p for p in points if p.kind != "reference"]
    branches = [p for p in trained if p.trunk]
    steps = sum(p.max_iters for p in trained)
    own = steps - sum(p.branch_step for p in branches)
    trunks = len({p.trunk for p in branches})
    return (
        f"branches: {len(branches)} cool-downs ({frac:g} of their steps) from {trunks} stable runs; "
        f"{own:,} steps trained instead of {steps:,} ({own / max(1, steps):.0%})"
    )


def launch_phases(study: Path, plan: dict[str, Any], todo: list[str], log=print) -> Iterator[list[str]]:
    """The ids of `todo` in the order `run` launches them: every point that is not a branch (the trunks among them),
    longest first, so that two jobs at once end together, then the branches, each folder seeded from its trunk's
    snapshot once the first launch has ended."""
    by_id = {p["id"]: p for p in plan["points"]}
    for p in plan["points"]:
        step = p.get("branch_step")
        if p.get("trunk") is not None and not (p["trunk"] in by_id and type(step) is int and step >= 1):
            raise FrontierError(
                f"{study / 'plan.json'}: point {p['id']} branches from {p['trunk']!r} at step {step!r}, not a point "
                "and step of this plan (edited?); plan the study again"
            )
    first = [pid for pid in todo if not by_id[pid].get("trunk")]
    branches = [pid for pid in todo if by_id[pid].get("trunk")]
    if any(p.get("trunk") for p in plan["points"]):  # the branches wait for the last of these: the longest go first
        first.sort(key=lambda pid: _length(by_id[pid]), reverse=True)
    if first:
        yield first
    ready = [pid for pid in branches if _seeded(study, by_id[pid], log)]
    if waiting := len(branches) - len(ready):
        log(f"[frontier] {waiting} branch(es) wait for their stable run to reach their step (it did not finish)")
    if ready:
        yield ready


def _length(point: dict[str, Any]) -> tuple[float, int]:
    """What orders a launch longest first: the budget, then the steps (at one budget a smaller model takes more of
    them, and a small model's step costs about as much as its Python overhead, not its FLOPs)."""
    return point.get("budget") or 0.0, point.get("max_iters") or 0


def _seeded(study: Path, point: dict[str, Any], log) -> bool:
    """Whether the branch `point` can be launched: its folder holds a checkpoint (seeded before, or its own), or is
    seeded now from its trunk's snapshot; a finished trunk without one (deleted) leaves the branch to train from
    step 0, which gives the same result at the cost of its stable steps."""
    run, trunk = study / RUNS / point["id"], study / RUNS / point["trunk"]
    if (run / LAST).is_file():
        return True
    files = snapshot_files(trunk, point["branch_step"])
    if not files[LAST].is_file():
        if point_state(trunk) != "finished":
            return False
        log(f"[frontier] note: {trunk} has no snapshot at step {point['branch_step']}: {point['id']} trains from 0")
        return True
    for log_file in sorted(trunk.glob("*.tsv")):  # resume keeps their rows before the branch's step
        copy_file(log_file, run / log_file.name)
    for name in (BEST, TIMING, LAST):  # the checkpoint last: it marks the folder seeded
        if files[name].is_file():
            copy_file(files[name], run / name)
    return True
