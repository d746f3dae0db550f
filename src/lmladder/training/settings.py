"""Typed settings for training and sampling a rung, the optimizer and schedule they build, and a whole run of a rung
as one value (`Run`). Stages merge their YAML into these dataclasses, so a wrong type or an unknown key fails before
any work starts; the library itself only ever sees these plain objects.

Each `check()` names a field as `name=value`; the stages say it as the config key (mlp.optim.lr=0)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field, make_dataclass
from pathlib import Path
from typing import Any

from .. import nn
from ..data.prepared import Prepared
from ..errors import LmladderError
from ..models import for_data
from ..models.base import LanguageModel
from ..nn.muon import NS_COEFFS, ns_steps_max
from ..nn.schedules import COOLDOWNS, SCHEDULES
from ..parallel import ParallelError, World
from ..rules import Rule, check_fields, choice, flag, integer, number
from .live import LiveLog


class SettingsError(LmladderError, ValueError):
    """A setting is out of range; the message names it and the fix."""


OPTIMIZERS = ("adamw", "adam", "sgd", "muon")
NS_STEPS_MAX = 64  # Newton-Schulz iterations: far past where more changes the update
_BETA = Rule("number", 0, 1, open_high=True)


def _bad(name: str, value, rule: str) -> SettingsError:
    return SettingsError(f"{name}={value!r} {rule}")


@dataclass
class OptimSettings:
    name: str = choice("adamw", OPTIMIZERS)
    lr: float = number(1e-3, above=0)
    betas: list[float] = field(default_factory=lambda: [0.9, 0.99])  # two in [0, 1): check() below
    eps: float = number(1e-8, above=0)
    weight_decay: float = number(0.1, low=0)  # AdamW: applied to >=2-D weights only
    momentum: float = number(0.9, low=0, below=1)  # sgd only
    muon_lr: float = number(0.02, above=0)  # muon only: the hidden matrices' rate at the schedule's peak
    muon_momentum: float = number(0.95, low=0, below=1)  # muon only
    nesterov: bool = flag(True)  # muon only: Nesterov momentum
    # muon only: Newton-Schulz iterations per update (5 orthogonalise well; each costs 3 matrix products per hidden
    # matrix and step, so a huge count hung the first step)
    ns_steps: int = integer(5, low=1, high=NS_STEPS_MAX, note="5 is Muon's usual count")
    # muon only, the options the field runs Muon with (nn/muon.py; all off by default): Newton-Schulz's coefficients
    # (jordan: one quintic, any ns_steps; polar_express: one per step, ns_steps <= 5), q, k and v orthogonalised as
    # three matrices, the hidden matrices' own decoupled decay (lr_t x it a step) and cautious decay (only where
    # the update and the weight agree in sign), the momentum's warm-up from 0.85 over this many steps
    ns_coeffs: str = choice("jordan", tuple(NS_COEFFS))
    muon_split_qkv: bool = flag(False)
    muon_weight_decay: float | None = number(None, low=0, null="(the same as weight_decay)")
    muon_cautious_wd: bool = flag(False)
    muon_momentum_warmup: int = integer(0, low=0, note="steps; 0 turns it off")
    schedule: str = choice("cosine", tuple(SCHEDULES))
    warmup_iters: int = integer(0, low=0)
    min_lr: float = number(0.0, low=0)  # <= lr: check() below
    decay_iters: int | None = integer(None, low=1, null="(default: max_iters)")
    step_size: int = integer(1000, low=1)  # step schedule only
    gamma: float = number(0.1, above=0, high=1, note="the step schedule's decay factor")  # step schedule only
    cooldown_frac: float = number(0.2, above=0, high=1)  # wsd only: the share of the steps spent decaying
    cooldown_shape: str = choice("linear", tuple(COOLDOWNS))  # wsd only: linear | sqrt (1 - sqrt(frac))
    grad_clip: float | None = number(1.0, low=0, null="(0 or null disables clipping)")

    def check(self) -> None:
        check_fields(self, SettingsError)
        if self.min_lr > self.lr:
            raise _bad("min_lr", self.min_lr, f"must be in [0, lr={self.lr}]")
        if (most := ns_steps_max(self.ns_coeffs)) and self.ns_steps > most:
            raise _bad(
                "ns_steps",
                self.ns_steps,
                f"must be <= {most} with ns_coeffs={self.ns_coeffs!r} (its coefficients "
                f"are made for {most} steps); set ns_steps={most}, or ns_coeffs=jordan for more steps",
            )
        betas = list(self.betas) if isinstance(self.betas, list | tuple) else self.betas
        if not isinstance(betas, list) or len(betas) != 2 or not all(map(_BETA.holds, betas)):
            raise _bad("betas", betas, "must be two numbers in [0, 1)")


@dataclass
class TrainSettings:
    max_iters: int = integer(2000, low=1)
    batch_size: int = integer(12, low=1)
    seq_len: int = integer(64, low=1)  # the rows' length for a model without its own context (LanguageModel.window)
    grad_accum: int = integer(1, low=1)
    # all: every position of a row | last: one random target per row (Zero-to-Hero's batches)
    targets: str = choice("all", ("all", "last"))
    # random: each row drawn anew | epochs: every window or document once per epoch, in a fresh order (EpochBatches)
    sampling: str = choice("random", ("random", "epochs"))
    # each input token (never a target) replaced by a draw from the train split's unigram distribution (noise.py)
    input_noise: float = number(0.0, low=0, below=1, note="0 turns it off")
    # the loss mixed with an n-gram teacher's: (1 - w) * own + w * CE against the teacher (teacher.py)
    teacher_order: int = integer(0, low=0, high=10, note="0 turns it off")
    teacher_weight: float = number(0.0, low=0, below=1)
    eval_interval: int = integer(250, low=1)
    eval_iters: int = integer(200, low=1)
    eval_batch_size: int = integer(32, low=1)  # exact full-split scoring
    checkpoint_interval: int = integer(500, low=1)
    grad_stats_interval: int = integer(100, low=1)
    health_interval: int = integer(100, low=0, note="0 turns health statistics off")  # training/health.py
    max_nonfinite: int = integer(0, low=0)  # steps with a non-finite loss/gradient that may be skipped before stopping
    progress: bool = flag(True)
    dvclive: bool = flag(True)  # the run's live log for DVC (live.py); the pipeline (dvc.yaml) needs it
    # weight averaging (average.py): what is scored and saved is the average of the weights after each step
    ema: float = number(0.0, low=0, below=1, note="the EMA's decay; 0 turns it off")
    swa: bool = flag(False)  # the plain mean of the weights instead (SWA)
    average_start: int = integer(0, low=0)  # the step from which the average runs
    ema_warmup: bool = flag(False)  # decay min(ema, (1 + k) / (10 + k)) with k steps averaged
    # steps at which a copy of the run's state is kept (snapshots.py): what another run can go on from as if it had
    # trained those steps itself (a frontier study's cool-down branches, docs/frontier.md)
    snapshot_steps: list[int] = field(default_factory=list)

    @property
    def averaging(self) -> bool:
        return self.ema > 0 or self.swa

    def check(self) -> None:
        check_fields(self, SettingsError)
        if self.sampling == "epochs" and self.targets == "last":
            raise SettingsError(
                "sampling=epochs takes whole windows or documents, and targets=last single targets; "
                "set targets=all, or sampling=random"
            )
        if (self.teacher_order > 0) != (self.teacher_weight > 0):
            on, off = ("teacher_order", "teacher_weight") if self.teacher_order else ("teacher_weight", "teacher_order")
            raise SettingsError(
                f"{on}={getattr(self, on)} needs {off}= as well (it is 0): set teacher_order= in [1, 10] and "
                "teacher_weight= in (0, 1) together, or both to 0"
            )
        if self.teacher_order and self.targets == "last":
            raise SettingsError(
                "teacher_order= mixes an n-gram teacher into the loss of every position, and targets=last trains "
                "one position a row; set targets=all, or teacher_order=0 and teacher_weight=0"
            )
        if self.ema > 0 and self.swa:
            raise SettingsError(f"swa=true with ema={self.ema}: choose one average; set ema=0 for SWA, or swa=false")
        if self.ema_warmup and not self.ema > 0:
            raise SettingsError(
                "ema_warmup=true warms up an EMA, and ema=0 turns it off; set ema= in (0, 1), or ema_warmup=false"
            )
        steps = list(self.snapshot_steps) if isinstance(self.snapshot_steps, list | tuple) else None
        if steps is None or not all(isinstance(k, int) and not isinstance(k, bool) for k in steps):
            raise _bad("snapshot_steps", self.snapshot_steps, "must be a list of steps, e.g. [100, 300]")
        if bad := [k for k in steps if not 1 <= k < self.max_iters]:
            raise _bad(
                "snapshot_steps",
                steps,
                f"holds {bad[0]}, outside [1, max_iters={self.max_iters}) (the run's end is its own checkpoint); "
                "drop it, or raise max_iters",
            )
        if self.averaging and self.average_start >= self.max_iters:
            raise _bad(
                "average_start",
                self.average_start,
                f"must be < max_iters={self.max_iters} (the average would hold no step); lower it, or raise max_iters",
            )


@dataclass
class SampleSettings:
    """The samples written next to every trained rung (samples.txt)."""

    num_samples: int = integer(20, low=0)
    sample_tokens: int = integer(500, low=0)  # per sample (lines corpora stop at the boundary)
    temperature: float = number(1.0, low=0, note="0 = greedy")

    def check(self) -> None:
        check_fields(self, SettingsError)


@functools.cache
def rung_schema(model_cls: type) -> type:
    """The dataclass of a rung's settings in the config (`mlp`, `transformer`, ...): the model's own Config, sample
    settings and, for a rung trained by gradient descent, optim and train; a Run holds the same four parts."""
    parts = [("model", model_cls.Config), ("sample", SampleSettings)]
    if model_cls.trainable:
        parts += [("optim", OptimSettings), ("train", TrainSettings)]
    return make_dataclass(f"{model_cls.__name__}Settings", [(n, t, field(default_factory=t)) for n, t in parts])


@dataclass(frozen=True)
class Run:
    """One run of one rung, everything it needs as one value, checked once when it is made: the steps of
    training/run.py (build, train or fit, score, sample, write) each take it.

    `config` is the model's config (its data fields are set from `data` here, models.for_data); `optim` and `train`
    are for a trained rung only. `meta`: what its checkpoints record beside the model, the seed and the step (the
    composed config, the data settings). `resume`: a checkpoint to continue (`reshard`: one of another number of MPI
    ranks). `world`: the MPI ranks training one model (parallel.py); rank 0 alone writes, scores, samples and keeps
    `live`, the run's DVCLive log."""

    cls: type[LanguageModel]
    config: Any
    data: Prepared
    seed: int
    out_dir: Path
    sample: SampleSettings = field(default_factory=SampleSettings)
    optim: OptimSettings | None = None
    train: TrainSettings | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    resume: Path | None = None
    reshard: bool = False
    world: World = field(default_factory=World)
    live: LiveLog | None = None
    log: Callable[[str], Any] = print

    def __post_init__(self):
        object.__setattr__(self, "out_dir", Path(self.out_dir))
        object.__setattr__(self, "config", for_data(self.config, self.data))
        if self.cls.trainable and (self.optim is None or self.train is None):
            raise TypeError(f"Run: {self.cls.__name__} trains by gradient descent; give optim and train")
        if not self.cls.trainable and self.world.size > 1:
            raise ParallelError(
                f"a {self.cls.rung} model is counted, not trained: there is nothing to share among {self.world.size} "
                "MPI ranks; run it without mpiexec"
            )

    @property
    def checkpoint_meta(self) -> dict[str, Any]:
        """What every checkpoint of the run records beside the model and the step."""
        return {**self.meta, "seed": self.seed}

    @property
    def eval_batch_size(self) -> int:
        """Rows per forward when the finished model is scored exactly."""
        return self.train.eval_batch_size if self.train else 32

    @property
    def progress(self) -> bool:
        """Bars while it trains and while a long split is scored (a counted model's run shows the scoring's)."""
        return self.train.progress if self.train else True


def seq_len_key(model: LanguageModel) -> str:
    """The setting that sets the length of `model`'s training rows (LanguageModel.window): its own block_size, or
    the trainer's seq_len. Messages name it, so the stage can say it as the config key that changes it."""
    return "block_size" if model.block_size else "seq_len"


def check_model(model: LanguageModel, optim: OptimSettings, train: TrainSettings) -> None:
    """What only the built model tells about its settings (the Trainer, and the check stage on a stand-in model)."""
    if train.targets == "all" and any(isinstance(m, nn.BatchNorm1d) for m in model.modules()):
        # batch statistics over the positions of one sequence carry its later tokens into its earlier predictions
        raise SettingsError(
            "targets='all' with BatchNorm lets a row's later positions leak its targets through the batch "
            "statistics; set targets=last (one random target per row, Zero-to-Hero's batches)"
        )
    if optim.name == "muon" and not nn.hidden_matrices(model):  # e.g. an MLP of n_embd=1 and context=1
        raise SettingsError(
            f"name='muon' needs hidden matrices (2-D weights with both sides > 1, besides the embeddings and the "
            f"head), and this {model.rung} model has none; set name=adamw, or widen the model"
        )
    if optim.name == "muon" and optim.muon_split_qkv and not any(p.row_blocks for p in nn.hidden_matrices(model)):
        raise SettingsError(
            f"muon_split_qkv=True orthogonalises the blocks of a fused attention matrix (q, k, v) one by one, and "
            f"this {model.rung} model has none (only the transformer's c_attn is one); set muon_split_qkv=false"
        )


def build_optimizer(model: LanguageModel, s: OptimSettings) -> nn.Optimizer:
    if s.name == "sgd":
        return nn.SGD(model.parameters(), lr=s.lr, momentum=s.momentum, weight_decay=s.weight_decay)
    betas = tuple(s.betas)
    if s.name == "muon":  # hidden matrices by Muon, the rest by AdamW
        groups = nn.muon_groups(model, s.weight_decay, s.muon_weight_decay)
        hyper = {"muon_lr": s.muon_lr, "momentum": s.muon_momentum, "nesterov": s.nesterov, "ns_steps": s.ns_steps}
        hyper |= {"ns_coeffs": s.ns_coeffs, "split_blocks": s.muon_split_qkv, "cautious_wd": s.muon_cautious_wd}
        return nn.Muon(groups, lr=s.lr, betas=betas, eps=s.eps, momentum_warmup=s.muon_momentum_warmup, **hyper)
    groups = nn.decay_groups(model.named_parameters(), s.weight_decay)  # no decay on biases and norm gains
    cls = nn.AdamW if s.name == "adamw" else nn.Adam
    return cls(groups, lr=s.lr, betas=betas, eps=s.eps)


def build_schedule(s: OptimSettings, max_iters: int):
    total = s.decay_iters or max_iters
    if s.schedule == "constant":
        return nn.make_schedule("constant", lr=s.lr)
    if s.schedule == "step":
        return nn.make_schedule("step", lr=s.lr, step_size=s.step_size, gamma=s.gamma)
    extra = {"cooldown_frac": s.cooldown_frac, "shape": s.cooldown_shape} if s.schedule == "wsd" else {}
    return nn.make_schedule(s.schedule, lr=s.lr, total=total, min_lr=s.min_lr, warmup=s.warmup_iters, **extra)
