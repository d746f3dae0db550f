"""Tokens per second of one model size on this machine: what a budget in seconds is converted by (plan.py).

The trainer itself is timed (its own per-step clock, training/timing.py) on a few steps after a short warm-up run
that pays the one-off costs (kernel compilation, first allocations), twice, in a temporary folder that is then
deleted; the faster of the two counts, so a moment of another process's work does not set a point's length."""

from __future__ import annotations

import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..data.prepared import Prepared
from ..models import for_data
from ..models.base import LanguageModel
from ..training import OptimSettings, TrainSettings, make_rngs, train

WARMUP_STEPS = 3


def tokens_per_second(
    cls: type[LanguageModel],
    config: Any,
    data: Prepared,
    *,
    optim: OptimSettings,
    settings: TrainSettings,
    seed: int,
    steps: int,
) -> float:
    """Trained targets per second over `steps` optimizer steps of `cls(config)` with these settings."""
    rates = []
    with tempfile.TemporaryDirectory(prefix="lmladder-calibrate-") as tmp:
        for n, name in ((WARMUP_STEPS, "warm"), (steps, "timed"), (steps, "again")):
            rngs = make_rngs(seed)
            model = cls(for_data(config, data), rng=rngs["model"])
            quiet = dict(
                eval=replace(settings.eval, interval=n + 1, iters=1),
                checkpoint=replace(settings.checkpoint, interval=n + 1, snapshots=[]),
                grad_stats_interval=n + 1,
            )
            run_settings = replace(settings, max_iters=n, health_interval=0, progress=False, **quiet)
            out = Path(tmp) / name
            result = train(model, data, rngs=rngs, optim=optim, train=run_settings, out_dir=out, log=lambda *_: None)
            rates.append(result.tokens_per_s)
    return max(rates[1:])
