"""Learning-rate schedules: callables mapping the 0-based step to a learning rate."""

from __future__ import annotations

import math
from dataclasses import dataclass


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
