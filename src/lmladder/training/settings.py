"""Typed settings for training. Stages merge their YAML into these dataclasses, so a wrong type or an unknown key
fails before any work starts; the library itself only ever sees these plain objects."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import LmladderError


class SettingsError(LmladderError, ValueError):
    """A setting is out of range; the message names the key and the fix."""


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

    def check(self, prefix: str = "optim") -> None:
        if self.name not in ("adamw", "adam", "sgd"):
            raise SettingsError(f"{prefix}.name={self.name!r}; choose adamw, adam or sgd")
        if not self.lr > 0:
            raise SettingsError(f"{prefix}.lr={self.lr} must be > 0")
        if self.min_lr < 0 or self.min_lr > self.lr:
            raise SettingsError(f"{prefix}.min_lr={self.min_lr} must be in [0, lr={self.lr}]")
        if len(self.betas) != 2 or not all(0 <= b < 1 for b in self.betas):
            raise SettingsError(f"{prefix}.betas={list(self.betas)} must be two numbers in [0, 1)")
        if self.weight_decay < 0 or self.warmup_iters < 0:
            raise SettingsError(f"{prefix}.weight_decay and {prefix}.warmup_iters must be >= 0")
        if self.grad_clip is not None and self.grad_clip < 0:
            raise SettingsError(f"{prefix}.grad_clip={self.grad_clip} must be >= 0 (0 or null disables clipping)")


@dataclass
class TrainSettings:
    max_iters: int = 2000
    batch_size: int = 12
    block_size: int = 64  # sequence length for models without their own (n-gram, MLP)
    grad_accum: int = 1
    eval_interval: int = 250
    eval_iters: int = 200
    eval_batch_size: int = 32  # exact full-split scoring
    checkpoint_interval: int = 500
    grad_stats_interval: int = 100
    max_nonfinite: int = 0  # steps with a non-finite loss/gradient that may be skipped before stopping
    num_samples: int = 10
    sample_tokens: int = 500  # per sample (lines corpora stop at the boundary)
    temperature: float = 1.0
    progress: bool = True

    def check(self, prefix: str = "train") -> None:
        for key in (
            "max_iters",
            "batch_size",
            "block_size",
            "grad_accum",
            "eval_interval",
            "eval_iters",
            "eval_batch_size",
            "checkpoint_interval",
            "grad_stats_interval",
        ):
            if getattr(self, key) <= 0:
                raise SettingsError(f"{prefix}.{key}={getattr(self, key)} must be a positive integer")
        if self.max_nonfinite < 0 or self.num_samples < 0 or self.sample_tokens < 0:
            raise SettingsError(f"{prefix}.max_nonfinite, num_samples and sample_tokens must be >= 0")
        if self.temperature < 0:
            raise SettingsError(f"{prefix}.temperature={self.temperature} must be >= 0")
