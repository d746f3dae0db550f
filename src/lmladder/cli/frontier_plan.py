"""`lmladder frontier plan`: a preset (conf/frontier/<name>.yaml) composed, through Hydra's compose API and the
project's conf/, into each size's complete run config, exactly what `python stages/train.py` would compose; the
data prepared once; budgets turned into steps (lmladder.frontier.plan), and the grid written as a study folder."""

from __future__ import annotations

import math
import os
import platform
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from ..config import ConfigError, RunConfig, check_overrides, rung_settings, validate
from ..data import ensure_prepared
from ..frontier.branches import check_schedule, cooldown_override, describe, own_tokens, with_branches
from ..frontier.calibrate import tokens_per_second
from ..frontier.plan import Size, make_points, reference_point, tokens_per_step, train_targets
from ..frontier.preset import FrontierError, Preset
from ..models import for_data, rung_class
from ..resources import cpu_model
from ..training.settings import rung_schema

# Every point's run is quiet and lean unless the preset says otherwise: no bar, no live log, no health statistics,
# a short loss estimate, a few samples (the exact scores at the end are what the fits read)
RUN_DEFAULTS = ("train.progress=false", "train.dvclive=false", "train.health_interval=0", "train.eval.iters=20",
                "train.grad_stats_interval=1000")  # fmt: skip
SAMPLE_DEFAULTS = ("sample.num_samples=4", "sample.sample_tokens=200")


def compose(conf: Path, overrides: list[str], where: str):
    """The project's config with `overrides`, as `python stages/train.py <overrides>` composes it."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    GlobalHydra.instance().clear()  # a Hydra app run before in this process (tests) leaves it initialised
    try:
        check_overrides(overrides)
        with initialize_config_dir(config_dir=str(conf.absolute()), version_base=None):
            return hydra_compose(config_name="config", overrides=overrides)
    except ConfigError as e:
        raise FrontierError(f"{where}: {e}") from None
    except (HydraException, OmegaConfBaseException) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise FrontierError(f"{where}: {first}; fix that override in the preset or on the command line") from None


def run_config(cfg, rung: str) -> dict[str, Any]:
    """What a point's Hydra config sets: the rung, its data and paths, the rung's whole settings (resolved)."""
    from omegaconf import OmegaConf

    return {"rung": rung, **{k: OmegaConf.to_container(cfg[k], resolve=True) for k in ("data", "paths", rung)}}


def typed(cfg, rung: str, where: str) -> tuple[RunConfig, Any]:
    try:
        return validate(cfg), rung_settings(cfg, rung, rung_schema(rung_class(rung)))
    except ConfigError as e:
        raise FrontierError(f"{where}: {e}") from None


def sizes_of(preset: Preset, extra: list[str], conf: Path, where: str) -> tuple[list, RunConfig]:
    """Each rung's sizes composed: [(rung, fields, settings, run config)], and the one data config they share."""
    out, run0 = [], None
    for axis in preset.rungs:
        r = axis.rung
        for fields in axis.sizes:
            own = [f"{r}.model.{k}={v}" for k, v in fields.items()]
            cool = [cooldown_override(r, preset.branches.cooldown_frac)] if preset.branches else []
            ovs = [*(f"{r}.{d}" for d in (*RUN_DEFAULTS, *SAMPLE_DEFAULTS)), *preset.overrides, *extra,
                   *axis.overrides, *cool, *own, f"rung={r}"]  # fmt: skip
            at = f"{where}: rungs.{r} size {','.join(own)}"
            cfg = compose(conf, ovs, at)
            run, settings = typed(cfg, r, at)
            if preset.branches:
                check_schedule(r, settings.optim, preset.branches.cooldown_frac, where)
            if run0 is not None and asdict(run.data) != asdict(run0.data):
                raise FrontierError(
                    f"{where}: rungs.{r}.overrides change the corpus (data.*); set the corpus in the top-level "
                    "overrides, for every rung alike"
                )
            run0 = run0 or run
            out.append((r, fields, settings, run_config(cfg, r)))
    return out, run0


def references(preset: Preset, extra: list[str], conf: Path, where: str, seed: int) -> list:
    points = []
    for rung, own in preset.reference.items():
        ovs = [*(f"{rung}.{d}" for d in SAMPLE_DEFAULTS), *preset.overrides, *extra, *own, f"rung={rung}"]
        cfg = compose(conf, ovs, f"{where}: reference.{rung}")
        typed(cfg, rung, f"{where}: reference.{rung}")
        points.append(reference_point(rung, run_config(cfg, rung), seed))
    return points


def make_plan(preset: Preset, extra: list[str], where: str, *, calibrate: bool, log=print) -> dict[str, Any]:
    """The plan of `preset` (+ `extra` overrides for every run): the points, the corpus, the calibration."""
    conf = Path("conf")
    if not (conf / "config.yaml").is_file() or not Path("stages/train.py").is_file():
        raise FrontierError("no conf/config.yaml and stages/train.py here; run lmladder frontier from the project root")
    composed, run0 = sizes_of(preset, extra, conf, where)
    prepared = Path(run0.paths.prepared)
    data, found = ensure_prepared(run0.data, prepared_dir=prepared, cache_root=prepared.parent / "cache", log=log)
    log(f"[frontier] data: {found}")
    calibrate = calibrate or "seconds" in preset.budgets
    sizes = []
    for rung, fields, settings, config in composed:
        m, t = settings.model, settings.train
        seq = getattr(m, "block_size", None) or t.seq_len  # LanguageModel.window's rule, on the config
        per_step = tokens_per_step(
            data, batch_size=t.batch_size, seq_len=seq, grad_accum=t.grad_accum, last=t.targets == "last"
        )
        size = Size(
            rung, dict(fields), for_data(m, data).counts(), per_step, settings.optim.schedule.warmup_iters, config
        )
        if calibrate:
            tps = tokens_per_second(rung_class(rung), m, data, optim=settings.optim, settings=t,
                                    seed=preset.seeds[0], steps=preset.calibration_steps)  # fmt: skip
            size = replace(size, tokens_per_s=tps)
            log(f"[frontier] {rung} {size.label}: {tps:,.0f} tokens/s over {preset.calibration_steps} steps")
        sizes.append(size)
    seeds = {a.rung: a.seeds for a in preset.rungs}
    bands = {a.rung: a.tokens_per_param or preset.tokens_per_param for a in preset.rungs}
    points = make_points(sizes, preset.budgets, seeds, bands)
    if preset.branches:
        points = with_branches(points, preset.branches.cooldown_frac)
        log(f"[frontier] {describe(points, preset.branches.cooldown_frac)}")
    _thin_profiles(points, log)
    points += references(preset, extra, conf, where, preset.seeds[0])
    return {
        "preset": preset.name,
        "source": where,
        "overrides": [*preset.overrides, *extra],
        "corpus": asdict(run0.data),
        "train_tokens": train_targets(data),
        "val_tokens": int(len(data.splits["val"])) + int(len(data.splits.get("test", ()))),
        "calibration": _machine(preset.calibration_steps) if calibrate else None,
        "points": [p.as_dict() for p in points],
    }


def _thin_profiles(points, log) -> None:
    """Say which budgets of a rung keep fewer than 3 sizes in the tokens_per_param band (no parabola there)."""
    kept: dict[tuple, set] = {}
    for p in points:
        kept.setdefault((p.rung, p.kind, p.budget), set()).add(p.size)
    for (rung, kind, budget), labels in sorted(kept.items()):
        if len(labels) < 3:
            log(f"[frontier] note: {rung} at {budget:g} {kind} keeps {len(labels)} size(s) in tokens_per_param: "
                "no isoprofile there (widen the band or add sizes)")  # fmt: skip


RUN_OVERHEAD_S = 1.5  # a run's memory probe, loss estimates, checkpoints and samples in a started worker
WORKER_START_S = 3.0  # a fresh interpreter's imports, Hydra and kernel loading (measured on a 2-core Zen 4)


def estimate_seconds(plan: dict[str, Any], jobs: int = 1) -> tuple[float, float] | None:
    """(training seconds, scoring and start-up seconds) the plan should take on this machine, summed over its runs
    (CPU-seconds of one core each, when one job runs per core), from the calibration: each point's own tokens at its
    size's tokens/s, plus scoring val and test once at a forward pass's third of a step's cost, RUN_OVERHEAD_S a
    run, and WORKER_START_S for each of `jobs` workers in each launch (a branched study launches twice)."""
    trained = [p for p in plan["points"] if p["kind"] != "reference"]
    if not trained or any(not p.get("tokens_per_s") for p in trained):
        return None
    train = sum(own_tokens(p) / p["tokens_per_s"] for p in trained)  # a branch's stable steps are its trunk's
    score = sum(plan["val_tokens"] / (3 * p["tokens_per_s"]) + RUN_OVERHEAD_S for p in trained)
    launches = 1 + any(p.get("trunk") for p in trained)
    return train, score + RUN_OVERHEAD_S * (len(plan["points"]) - len(trained)) + WORKER_START_S * jobs * launches


def own_steps(plan: dict[str, Any]) -> int:
    """The optimizer steps the study trains: each run's own (a branch's stable steps are its trunk's)."""
    return sum(p["max_iters"] - (p.get("branch_step") or 0) for p in plan["points"] if p["kind"] != "reference")


def _machine(steps: int) -> dict[str, Any]:
    """The CPU the calibration ran on, as the benchmarks name it (psutil has no model name; platform's is coarse)."""
    return {"cpu": cpu_model(), "cores": os.cpu_count(), "platform": platform.platform(), "steps": steps}


def fmt_duration(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if math.isfinite(seconds) else "unknown"
