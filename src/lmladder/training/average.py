"""Weight averaging: an exponential moving average of the trained weights (EMA), or their plain mean (SWA), is what
a run scores and saves when train.average.name (ema | swa) turns it on.

After each optimizer step from step `start` on, the average a of every parameter p moves towards it:

    a = p                        the first step averaged: no zero start, so no bias to correct
    a = a + (1 - d) * (p - a)    every later one; d = decay, or with `warmup` min(decay, (1 + k) / (10 + k)),
                                 or for SWA k / (k + 1), where k steps are in the average so far

SWA's d makes a the mean of the weights after every step since `start` (Izmailov et al. 2018); the warm-up is
TensorFlow's ExponentialMovingAverage(num_updates) form, which lets a late-started EMA forget its first weights
fast. A skipped step (a non-finite loss) changed no weight and adds nothing. Buffers (BatchNorm's running
statistics) are not averaged: the scored model keeps the trained model's own.

The average is kept in the parameters' dtype (float32 in training), so the tensors scored, saved and resumed are
one and the same. Rounding may hold a behind p by half a unit in the last place over (1 - d), i.e. about 3e-5 of a
weight at d = 0.999 (3e-4 at 0.9999), far below what averaging itself changes; float64 would double its memory
and still be rounded to float32 before every scoring.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ..checkpoints import TAMPERED, Checkpoint
from ..io import CheckpointError
from ..models.base import LanguageModel
from ..rules import SettingsError, check_fields, check_used, choice, flag, integer, number
from .resume import TrainingError


@dataclass
class AverageSettings:
    """Weight averaging (train.average): none, an EMA of the weights (ema) or their plain mean (swa), from `start`."""

    name: str = choice("none", ("none", "ema", "swa"))
    start: int = integer(0, low=0)  # the step from which the average runs
    decay: float = number(0.999, above=0, below=1)  # the EMA's d
    warmup: bool = flag(False)  # the EMA's d is min(decay, (1 + k) / (10 + k)) with k steps averaged

    used_by: ClassVar[dict[str, tuple[str, ...]]] = {"start": ("ema", "swa"), "decay": ("ema",), "warmup": ("ema",)}

    @property
    def on(self) -> bool:
        return self.name != "none"

    def check(self) -> None:
        check_fields(self, SettingsError)
        check_used(self, "name", self.used_by, SettingsError)

    def record(self) -> dict[str, Any]:
        """What a checkpoint records of these settings (the same four values since checkpoints first held them)."""
        ema = self.name == "ema"
        return {
            "ema": self.decay if ema else 0.0,
            "swa": self.name == "swa",
            "start": self.start,
            "warmup": ema and self.warmup,
        }


class WeightAverage:
    """The average of `model`'s parameters (none when settings.name is none), by the rule above."""

    def __init__(self, model: LanguageModel, settings: AverageSettings | None = None):
        settings = settings or AverageSettings()
        self.named = list(model.named_parameters())
        self.settings = settings.record()
        self.on = settings.on
        self.count = 0  # steps averaged so far
        self.arrays: list[np.ndarray] = []  # the average, one array per parameter (named's order)

    def decay(self, k: int) -> float:
        """d for the step that joins an average of k steps (k >= 1)."""
        s = self.settings
        if s["swa"]:
            return k / (k + 1)
        return min(s["ema"], (1 + k) / (10 + k)) if s["warmup"] else s["ema"]

    def after_step(self, step: int) -> None:
        """Average in the weights just updated by optimizer step `step` (0-based), from step `start` on."""
        if not self.on or step < self.settings["start"]:
            return
        if self.count == 0:
            self.arrays = [p.data.copy() for _, p in self.named]
        else:
            w = 1.0 - self.decay(self.count)
            for a, (_, p) in zip(self.arrays, self.named, strict=True):
                d = p.data - a
                d *= w  # a Python float scales in the array's own dtype (NumPy's NEP 50)
                a += d
        self.count += 1

    @contextlib.contextmanager
    def scored(self) -> Iterator[None]:
        """Inside, the model holds the average (once a step is in it); after, its trained weights, bit for bit."""
        if not self.count:
            yield
            return
        trained = [p.data.copy() for _, p in self.named]
        try:
            for a, (_, p) in zip(self.arrays, self.named, strict=True):
                np.copyto(p.data, a)
            yield
        finally:
            for t, (_, p) in zip(trained, self.named, strict=True):
                np.copyto(p.data, t)

    def apply(self) -> None:
        """The model keeps the average for good (training is over: it is what the run scores and samples)."""
        for a, (_, p) in zip(self.arrays if self.count else (), self.named, strict=False):
            np.copyto(p.data, a)

    def by_name(self) -> dict[str, np.ndarray] | None:
        """The average by parameter name, as checkpoints store it; None before any step is in it."""
        return {name: a for (name, _), a in zip(self.named, self.arrays, strict=True)} if self.count else None

    def meta(self) -> dict[str, Any]:
        """What a checkpoint records about the average (nothing when it is off: those files stay as they were)."""
        return {"average": {**self.settings, "count": self.count}} if self.on else {}

    def restore(self, path: Path, ck: Checkpoint) -> None:
        """Continue the average of checkpoint `ck` (loaded into the model already): its trained weights go back
        into the model and its model weights become the average. A checkpoint whose average another run's
        settings made, or whose run averaged nothing where this run would have, is refused: the continued run
        would not be the uninterrupted one."""
        saved = ck.meta.get("average")
        count = _saved_count(path, saved, ck)
        theirs = {k: v for k, v in saved.items() if k != "count"} if saved else None
        if count and theirs != (self.settings if self.on else None):
            ours = f"asks for {_describe(self.settings)}" if self.on else "averages no weights"
            raise TrainingError(
                f"cannot resume from {path}: its model is {_describe(theirs)}, this run {ours}; resume with "
                f"{_keys(theirs)}, or start a new run"
            )
        if not count and self.on and ck.step > self.settings["start"] and theirs != self.settings:
            raise TrainingError(
                f"cannot resume from {path}: it is at step {ck.step} and holds no average of its weights, and this "
                f"run averages them from average.start={self.settings['start']}; set average.start >= {ck.step}, "
                "or start a new run"
            )
        if not count:
            return
        self.arrays = [p.data.copy() for _, p in self.named]
        for name, p in self.named:
            np.copyto(p.data, ck.trained[name])
        self.count = count


def _saved_count(path: Path, saved: Any, ck: Checkpoint) -> int:
    """The checkpoint's count of averaged steps, its record and arrays checked against each other."""
    if saved is None:
        count = 0
    else:
        ok = isinstance(saved, dict) and set(saved) == {"ema", "swa", "start", "warmup", "count"}
        count = saved.get("count") if ok else None
        if not (isinstance(count, int) and not isinstance(count, bool) and count >= 0):
            raise CheckpointError(f"{path}: its weight-average record is malformed; {TAMPERED}")
    if bool(count) != (ck.trained is not None):
        has = "no trained weights beside" if count else "trained weights beside"
        raise CheckpointError(f"{path}: it holds {has} an average of {count} steps; {TAMPERED}")
    return count


def _describe(s: dict) -> str:
    how = "the mean (average.name=swa)" if s["swa"] else f"an EMA ({_ema(s)})"
    return f"{how} of the trained weights from average.start={s['start']}"


def _keys(s: dict) -> str:
    return f"average.name=swa, average.start={s['start']}" if s["swa"] else f"{_ema(s)}, average.start={s['start']}"


def _ema(s: dict) -> str:
    return f"average.name=ema, average.decay={s['ema']}, average.warmup={str(s['warmup']).lower()}"
