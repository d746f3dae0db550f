"""Learning-rate schedules: callables mapping the 0-based step to a learning rate; `ScheduleSettings` (optim.schedule
in a config) names one and holds its settings, each schedule's own in a block named after it."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

from ..rules import SettingsError, block, check_fields, check_used, choice, integer, number


@dataclass(frozen=True)
class Constant:
    lr: float

    def __call__(self, step: int) -> float:
        return self.lr


@dataclass(frozen=True)
class StepDecay:
    """lr * gamma ** (step // step_size) (makemore's MLP drops the rate 10x part-way)."""

    lr: float
    step_size: int
    gamma: float = 0.1

    def __call__(self, step: int) -> float:
        return self.lr * self.gamma ** (step // self.step_size)


def _warmup(lr: float, step: int, warmup: int) -> float:
    return lr * (step + 1) / (warmup + 1)


@dataclass(frozen=True)
class _WarmupDecay:
    """Linear warmup for `warmup` steps, then `_decay(frac)` from lr (frac 0) to min_lr (frac 1) at `total` steps."""

    lr: float
    total: int
    min_lr: float = 0.0
    warmup: int = 0

    def __call__(self, step: int) -> float:
        if step < self.warmup:
            return _warmup(self.lr, step, self.warmup)
        if step >= self.total:
            return self.min_lr
        frac = (step - self.warmup) / max(1, self.total - self.warmup)
        return self.min_lr + self._decay(frac) * (self.lr - self.min_lr)


class LinearDecay(_WarmupDecay):
    """Linear warmup, then a straight line from lr down to min_lr at `total` steps, flat after."""

    @staticmethod
    def _decay(frac: float) -> float:
        return 1.0 - frac


class WarmupCosine(_WarmupDecay):
    """Linear warmup, then a half cosine from lr down to min_lr at `total` steps, flat after (nanoGPT's get_lr)."""

    @staticmethod
    def _decay(frac: float) -> float:
        return 0.5 * (1 + math.cos(math.pi * frac))


# the cooldown's share of the peak rate left at frac (0 -> 1) of the way through it
COOLDOWNS = {"linear": lambda frac: 1.0 - frac, "sqrt": lambda frac: 1.0 - math.sqrt(frac)}


@dataclass(frozen=True)
class WarmupStableDecay:
    """Warmup, then lr held flat, then down to min_lr over the last `cooldown_frac` of `total` steps, flat after
    (Hägele et al., 2024; modded-nanogpt's and nanochat's schedule). The cooldown's shape: a straight line (linear),
    or 1 - sqrt(frac) (sqrt), which Hägele et al. found better: it drops faster at first, then lingers at low rates."""

    lr: float
    total: int
    min_lr: float = 0.0
    warmup: int = 0
    cooldown_frac: float = 0.2
    shape: str = "linear"

    def __post_init__(self):
        if self.shape not in COOLDOWNS:
            raise ValueError(f"unknown cooldown shape {self.shape!r}; choose from {sorted(COOLDOWNS)}")

    @property
    def cooldown_steps(self) -> int:
        """The steps of the decay: the last cooldown_frac of total, at least one."""
        return max(1, round(self.cooldown_frac * self.total))

    @property
    def cooldown_start(self) -> int:
        """The first step whose rate depends on `total`: before it every step runs at the warmup's or the peak rate,
        so a schedule of any longer total agrees with this one up to here (where a cool-down branch starts,
        frontier/branches.py)."""
        return self.total - self.cooldown_steps

    def __call__(self, step: int) -> float:
        if step < self.warmup:
            return _warmup(self.lr, step, self.warmup)
        if step >= self.total:
            return self.min_lr
        cool = self.cooldown_steps
        frac = max(0.0, (step - self.cooldown_start) / cool)
        return self.min_lr + COOLDOWNS[self.shape](frac) * (self.lr - self.min_lr)


SCHEDULES = {
    "constant": Constant,
    "step": StepDecay,
    "linear": LinearDecay,
    "cosine": WarmupCosine,
    "wsd": WarmupStableDecay,
}


def make_schedule(name: str, **kwargs):
    """Build a schedule by name (constant, step, linear, cosine, wsd) with its keyword arguments."""
    try:
        cls = SCHEDULES[name]
    except KeyError:
        raise ValueError(f"unknown lr schedule {name!r}; choose from {sorted(SCHEDULES)}") from None
    try:
        return cls(**kwargs)
    except TypeError as e:
        raise ValueError(f"lr schedule {name!r}: {e}") from None


@dataclass
class StepSettings:
    """The step schedule's own (StepDecay): the rate times `gamma` every `size` steps."""

    size: int = integer(1000, low=1)
    gamma: float = number(0.1, above=0, high=1, note="the decay factor")

    def check(self) -> None:
        check_fields(self, SettingsError)


@dataclass
class WsdSettings:
    """Warmup-stable-decay's own (WarmupStableDecay): its cooldown."""

    cooldown_frac: float = number(0.2, above=0, high=1)  # the last share of the steps, decaying to min_lr
    cooldown_shape: str = choice("linear", tuple(COOLDOWNS))  # linear | sqrt (1 - sqrt of the way through it)

    def check(self) -> None:
        check_fields(self, SettingsError)


DECAYING = ("linear", "cosine", "wsd")  # the schedules that warm up, then decay to min_lr at decay_iters


@dataclass
class ScheduleSettings:
    """The learning-rate schedule (optim.schedule): its name, the warm-up and the decay's end, and each schedule's
    own settings in a block named after it; what a schedule does not read stays at its default (used_by)."""

    name: str = choice("cosine", tuple(SCHEDULES))
    warmup_iters: int = integer(0, low=0)
    min_lr: float = number(0.0, low=0)  # <= optim.lr: OptimSettings.check
    decay_iters: int | None = integer(None, low=1, null="(default: max_iters)")
    step: StepSettings = block(StepSettings)
    wsd: WsdSettings = block(WsdSettings)

    used_by: ClassVar[dict[str, tuple[str, ...]]] = {
        **dict.fromkeys(("warmup_iters", "min_lr", "decay_iters"), DECAYING),
        "step": ("step",),
        "wsd": ("wsd",),
    }

    def check(self) -> None:
        check_fields(self, SettingsError)
        self.step.check()
        self.wsd.check()
        check_used(self, "name", self.used_by, SettingsError)

    def build(self, lr: float, max_iters: int):
        """The schedule, peaking at `lr`, of a run of max_iters steps (its decay ends at decay_iters when set)."""
        if self.name == "constant":
            return Constant(lr)
        if self.name == "step":
            return StepDecay(lr, self.step.size, self.step.gamma)
        decay = dict(lr=lr, total=self.decay_iters or max_iters, min_lr=self.min_lr, warmup=self.warmup_iters)
        if self.name == "wsd":
            decay |= dict(cooldown_frac=self.wsd.cooldown_frac, shape=self.wsd.cooldown_shape)
        return SCHEDULES[self.name](**decay)
