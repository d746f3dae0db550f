"""A frontier study's preset (conf/frontier/<name>.yaml) as typed objects, checked before any work.

    name: names                      # the study; its folder is outputs/frontier/<name> unless --out says otherwise
    overrides: [data=names_txt, data.source=file, data.path=../shared/data/names.txt]   # every run
    seeds: [0, 1]                    # each point trained once per seed
    budgets: {flops: [1.0e11, 1.0e12], seconds: [30, 120]}   # FLOPs and/or seconds of training on this machine
    calibration_steps: 30            # steps timed per model size when seconds budgets are given
    tokens_per_param: [2, 2000]      # optional: plan only the points whose tokens / parameters lie in this band
    rungs:                           # the rungs trained, each with its size axis
      transformer:
        overrides: [transformer=makemore]
        sizes: {n_layer: [1, 2, 4], n_embd: [32, 64, 96]}   # zipped: (1, 32), (2, 64), (4, 96)
        seeds: [0]                   # optional: this rung's own seeds
        tokens_per_param: [2, 1000]  # optional: this rung's own band (its optimum's tokens per parameter differ)
    reference: {bigram: [bigram=kneser_ney]}   # runs that are not on the grid: a horizontal line on the plots
    branches: {cooldown_frac: 0.2}   # optional: each size's budgets from one stable run, each cooling down over
                                     # its last 20%; every rung must then be on the wsd schedule (branches.py)

The library never reads the file: the `lmladder frontier` command does and passes the mapping to parse_preset.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any

from ..errors import LmladderError
from ..models import DATA_FIELDS, rung_class, rungs

KINDS = ("flops", "seconds")  # the two budget axes
MAX_CALIBRATION_STEPS = 1000  # the timing settles within tens of steps; more only delays the plan
TOP_KEYS = ("name", "overrides", "seeds", "budgets", "calibration_steps", "tokens_per_param", "rungs", "reference",
            "branches")  # fmt: skip
AXIS_KEYS = ("overrides", "sizes", "seeds", "tokens_per_param")  # a rung's keys under rungs:


class FrontierError(LmladderError, ValueError):
    """A frontier preset, study folder or set of runs cannot be used; the message names it and the fix."""


@dataclass(frozen=True)
class RungAxis:
    rung: str
    overrides: tuple[str, ...]
    sizes: tuple[dict[str, Any], ...]  # one model per entry: {field: value}
    seeds: tuple[int, ...]
    tokens_per_param: tuple[float, float] | None = None  # this rung's own band; None: the preset's


@dataclass(frozen=True)
class Branches:
    """Cool-down branches (frontier/branches.py): each budget's run goes on from its size's stable run and cools down
    over its last `cooldown_frac` of steps."""

    cooldown_frac: float


@dataclass(frozen=True)
class Preset:
    name: str
    overrides: tuple[str, ...]
    seeds: tuple[int, ...]
    budgets: dict[str, tuple[float, ...]]  # kind -> budgets, ascending
    rungs: tuple[RungAxis, ...]
    reference: dict[str, tuple[str, ...]] = field(default_factory=dict)  # rung -> its overrides
    calibration_steps: int = 30
    # a (size, budget) point is planned only if its tokens per parameter lie in this band: Chinchilla's isoFLOP
    # profiles span the sizes near each budget's optimum, not a tiny model trained for thousands of epochs
    tokens_per_param: tuple[float, float] = (0.0, math.inf)
    branches: Branches | None = None


def frontier_rungs() -> list[str]:
    """The rungs a frontier can train: trained by gradient descent, with a compute count (Config.counts)."""
    return [r for r in rungs() if rung_class(r).trainable and hasattr(rung_class(r).Config, "counts")]


def parse_preset(raw: Any, where: str) -> Preset:
    """`raw` (the preset file's mapping; `where` names it in errors) checked and typed."""
    _mapping(raw, where, "the preset", "a mapping of name, overrides, seeds, budgets, rungs")
    if unknown := [k for k in raw if k not in TOP_KEYS]:
        raise FrontierError(f"{where}: unknown key {unknown[0]!r}; the keys are {', '.join(TOP_KEYS)}")
    name = raw.get("name")
    if not isinstance(name, str) or not name or not name.replace("_", "").replace("-", "").isalnum():
        raise FrontierError(f"{where}: name={name!r} must be a word (letters, digits, _ or -); set name: to one")
    seeds = _seeds(raw.get("seeds", [0]), where, "seeds")
    budgets = _budgets(raw.get("budgets"), where)
    steps = raw.get("calibration_steps", 30)
    if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= MAX_CALIBRATION_STEPS:
        raise FrontierError(
            f"{where}: calibration_steps={steps!r} must be an integer in [1, {MAX_CALIBRATION_STEPS}] (plan trains "
            "each size twice that many steps only to time it); 30 is plenty"
        )
    axes = raw.get("rungs")
    _mapping(axes, where, "rungs", "a mapping of rung -> {overrides, sizes}")
    if not axes:
        raise FrontierError(f"{where}: rungs is empty; list at least one of {', '.join(frontier_rungs())}")
    band = _band(raw.get("tokens_per_param", [0, math.inf]), where, "tokens_per_param")
    reference = raw.get("reference") or {}
    _mapping(reference, where, "reference", "a mapping of rung -> overrides")
    for rung in reference:
        _known(rung, where, "reference", rungs())
    return Preset(
        name=name,
        overrides=_overrides(raw.get("overrides", []), where, "overrides"),
        seeds=seeds,
        budgets=budgets,
        rungs=tuple(_axis(r, spec, where, seeds) for r, spec in axes.items()),
        reference={r: _overrides(v, where, f"reference.{r}") for r, v in reference.items()},
        calibration_steps=steps,
        tokens_per_param=band,
        branches=_branches(raw.get("branches"), where),
    )


def _axis(rung: Any, spec: Any, where: str, seeds: tuple[int, ...]) -> RungAxis:
    _known(rung, where, "rungs", frontier_rungs())
    key = f"rungs.{rung}"
    _mapping(spec, where, key, "a mapping with sizes: (and overrides:, seeds:)")
    if unknown := [k for k in spec if k not in AXIS_KEYS]:
        raise FrontierError(f"{where}: {key}: unknown key {unknown[0]!r}; the keys are {', '.join(AXIS_KEYS)}")
    sizes = spec.get("sizes")
    _mapping(sizes, where, f"{key}.sizes", "a mapping of model field -> list of values, zipped")
    names = {f.name for f in fields(rung_class(rung).Config)} - set(DATA_FIELDS)
    config = rung_class(rung).Config.__name__
    lengths = set()
    for name, values in sizes.items():
        if name not in names:
            raise FrontierError(
                f"{where}: {key}.sizes.{name} is not a field of the {rung} model ({config}: "
                f"{', '.join(sorted(names))}); fix the spelling"
            )
        if not isinstance(values, list) or not values or not all(_scalar(v) for v in values):
            raise FrontierError(f"{where}: {key}.sizes.{name}={values!r} must be a list of values; e.g. [32, 64, 128]")
        lengths.add(len(values))
    if not sizes:
        raise FrontierError(f"{where}: {key}.sizes is empty; give one model field with a list of values")
    if len(lengths) > 1:
        raise FrontierError(f"{where}: {key}.sizes lists of lengths {sorted(lengths)}; give every field as many values")
    n = lengths.pop()
    points = tuple({name: values[i] for name, values in sizes.items()} for i in range(n))
    if len({tuple(p.items()) for p in points}) < n:
        raise FrontierError(f"{where}: {key}.sizes repeats a model; list each size once")
    own = _seeds(spec["seeds"], where, f"{key}.seeds") if "seeds" in spec else seeds
    band = _band(spec["tokens_per_param"], where, f"{key}.tokens_per_param") if "tokens_per_param" in spec else None
    return RungAxis(rung, _overrides(spec.get("overrides", []), where, f"{key}.overrides"), points, own, band)


def _band(raw: Any, where: str, key: str) -> tuple[float, float]:
    if not (isinstance(raw, list) and len(raw) == 2 and all(_number(v) for v in raw) and 0 <= raw[0] < raw[1]):
        raise FrontierError(f"{where}: {key}={raw!r} must be [low, high] with 0 <= low < high; e.g. [2, 2000]")
    return float(raw[0]), float(raw[1])


def _budgets(raw: Any, where: str) -> dict[str, tuple[float, ...]]:
    _mapping(raw, where, "budgets", "a mapping with flops: and/or seconds: lists")
    if unknown := [k for k in raw if k not in KINDS]:
        raise FrontierError(f"{where}: budgets.{unknown[0]} is not a budget; give flops: and/or seconds:")
    out = {}
    for kind in KINDS:
        values = [] if raw.get(kind) is None else raw[kind]  # `flops:` left empty; `flops: 0` is a wrong value
        good = isinstance(values, list) and all(_positive(v) for v in values)
        if not good or len(set(values)) < len(values):
            raise FrontierError(
                f"{where}: budgets.{kind}={values!r} must be a list of distinct numbers > 0; e.g. [1.0e11, 1.0e12]"
            )
        if values:
            out[kind] = tuple(sorted(float(v) for v in values))
    if not out:
        raise FrontierError(f"{where}: budgets has no flops: or seconds: values; give at least one budget")
    return out


def _branches(raw: Any, where: str) -> Branches | None:
    if raw is None:
        return None
    _mapping(raw, where, "branches", "a mapping with cooldown_frac:, e.g. {cooldown_frac: 0.2}")
    if unknown := [k for k in raw if k != "cooldown_frac"]:
        raise FrontierError(f"{where}: branches.{unknown[0]} is not a setting of branches; the key is cooldown_frac")
    frac = raw.get("cooldown_frac")
    if not (_number(frac) and 0 < frac < 1):
        raise FrontierError(
            f"{where}: branches.cooldown_frac={frac!r} must be a number in (0, 1), the share of each budget's steps "
            "spent cooling down; e.g. 0.2"
        )
    return Branches(float(frac))


def _seeds(raw: Any, where: str, key: str) -> tuple[int, ...]:
    ok = isinstance(raw, list) and raw and all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in raw)
    if not ok or len(set(raw)) < len(raw):
        raise FrontierError(f"{where}: {key}={raw!r} must list distinct integers >= 0; e.g. [0, 1]")
    return tuple(raw)


def _overrides(raw: Any, where: str, key: str) -> tuple[str, ...]:
    if not isinstance(raw, list) or not all(isinstance(o, str) and "=" in o for o in raw):
        raise FrontierError(
            f"{where}: {key}={raw!r} must be a list of Hydra overrides (key=value); e.g. [mlp=makemore]"
        )
    if bad := [o for o in raw if o.lstrip("+~").split("=", 1)[0].split(".")[0] in ("seed", "seeds", "rung", "hydra")]:
        raise FrontierError(f"{where}: {key} sets {bad[0]!r}; the study sets rung, seed and hydra.* itself, remove it")
    return tuple(raw)


def _mapping(value: Any, where: str, key: str, want: str) -> None:
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise FrontierError(f"{where}: {key} is {type(value).__name__}, not {want}; see conf/frontier/names.yaml")


def _known(rung: str, where: str, key: str, allowed: list[str]) -> None:
    if rung not in allowed:
        hint = " (a counted rung goes under reference:)" if key == "rungs" and rung in rungs() else ""
        raise FrontierError(
            f"{where}: {key}: {rung!r} is not a rung it can use{hint}; choose from {', '.join(allowed)}"
        )


def _scalar(v: Any) -> bool:
    return isinstance(v, str | bool) or (isinstance(v, int | float) and math.isfinite(v))


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and not math.isnan(v)


def _positive(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) and v > 0
