"""Typed settings for training and sampling a rung. Stages merge their YAML into these dataclasses, so a wrong type
or an unknown key fails before any work starts; the library itself only ever sees these plain objects.

Each `check()` names a field as `name=value`; the stages say it as the config key (mlp.optim.lr=0)."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field, make_dataclass

from ..errors import LmladderError


class SettingsError(LmladderError, ValueError):
    """A setting is out of range; the message names it and the fix."""


def _bad(name: str, value, rule: str) -> SettingsError:
    return SettingsError(f"{name}={value!r} {rule}")


def _positive_ints(obj, *names: str) -> None:
    for name in names:
        if getattr(obj, name) <= 0:
            raise _bad(name, getattr(obj, name), "must be a positive integer")


@dataclass
class OptimSettings:
    name: str = "adamw"  # adamw | adam | sgd
    lr: float = 1e-3
    betas: list[float] = field(default_factory=lambda: [0.9, 0.99])
    eps: float = 1e-8
    weight_decay: float = 0.1  # AdamW: applied to >=2-D weights only
    momentum: float = 0.9  # sgd only
    schedule: str = "cosine"  # constant | step | linear | cosine
    warmup_iters: int = 0
    min_lr: float = 0.0
    decay_iters: int | None = None  # default: max_iters
    step_size: int = 1000  # step schedule only
    gamma: float = 0.1  # step schedule only
    grad_clip: float | None = 1.0

    def check(self) -> None:
        if self.name not in ("adamw", "adam", "sgd"):
            raise _bad("name", self.name, "is not an optimizer; choose adamw, adam or sgd")
        if not self.lr > 0:
            raise _bad("lr", self.lr, "must be > 0")
        if self.min_lr < 0 or self.min_lr > self.lr:
            raise _bad("min_lr", self.min_lr, f"must be in [0, lr={self.lr}]")
        if len(self.betas) != 2 or not all(0 <= b < 1 for b in self.betas):
            raise _bad("betas", list(self.betas), "must be two numbers in [0, 1)")
        for name in ("weight_decay", "warmup_iters"):
            if getattr(self, name) < 0:
                raise _bad(name, getattr(self, name), "must be >= 0")
        if self.grad_clip is not None and self.grad_clip < 0:
            raise _bad("grad_clip", self.grad_clip, "must be >= 0 (0 or null disables clipping)")


@dataclass
class TrainSettings:
    max_iters: int = 2000
    batch_size: int = 12
    block_size: int = 64  # sequence length for models without their own (n-gram, MLP)
    grad_accum: int = 1
    targets: str = "all"  # all: every position of a row | last: one random target per row (Zero-to-Hero's batches)
    eval_interval: int = 250
    eval_iters: int = 200
    eval_batch_size: int = 32  # exact full-split scoring
    checkpoint_interval: int = 500
    grad_stats_interval: int = 100
    max_nonfinite: int = 0  # steps with a non-finite loss/gradient that may be skipped before stopping
    progress: bool = True

    def check(self) -> None:
        sizes = ("max_iters", "batch_size", "block_size", "grad_accum", "eval_interval", "eval_iters")
        _positive_ints(self, *sizes, "eval_batch_size", "checkpoint_interval", "grad_stats_interval")
        if self.max_nonfinite < 0:
            raise _bad("max_nonfinite", self.max_nonfinite, "must be >= 0")
        if self.targets not in ("all", "last"):
            raise _bad("targets", self.targets, "must be all or last")


@dataclass
class SampleSettings:
    """The samples written next to every trained rung (samples.txt)."""

    num_samples: int = 20
    sample_tokens: int = 500  # per sample (lines corpora stop at the boundary)
    temperature: float = 1.0

    def check(self) -> None:
        for name in ("num_samples", "sample_tokens"):
            if getattr(self, name) < 0:
                raise _bad(name, getattr(self, name), "must be >= 0")
        if self.temperature < 0:
            raise _bad("temperature", self.temperature, "must be >= 0 (0 = greedy)")


@functools.cache
def rung_schema(model_cls: type) -> type:
    """The dataclass of a rung's block in the config (`mlp`, `transformer`, ...): the model's own Config, sample
    settings and, for a rung trained by gradient descent, optim and train; run_rung takes the same four parts."""
    parts = [("model", model_cls.Config), ("sample", SampleSettings)]
    if model_cls.trainable:
        parts += [("optim", OptimSettings), ("train", TrainSettings)]
    return make_dataclass(f"{model_cls.__name__}Settings", [(n, t, field(default_factory=t)) for n, t in parts])
