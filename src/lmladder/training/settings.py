"""Typed settings for training and sampling a rung, the optimizer and schedule they build, and a whole run of a rung
as one value (`Run`). Stages merge their YAML into these dataclasses, so a wrong type or an unknown key fails before
any work starts; the library itself only ever sees these plain objects.

Each `check()` names a field as `name=value`; the stages say it as the config key (mlp.optim.lr=0)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field, make_dataclass
from pathlib import Path
from typing import Any, ClassVar

from .. import nn
from ..data.prepared import Prepared
from ..models import for_data
from ..models.base import LanguageModel
from ..nn.muon import MuonSettings
from ..nn.optim import AdamSettings, SGDSettings
from ..nn.schedules import ScheduleSettings
from ..parallel import ParallelError, World
from ..rules import SettingsError, block, check_fields, check_used, choice, flag, integer, number
from .average import AverageSettings
from .live import LiveLog
from .snapshots import CheckpointSettings
from .teacher import TeacherSettings

OPTIMIZERS = ("adamw", "adam", "sgd", "muon")


def _bad(name: str, value, rule: str) -> SettingsError:
    return SettingsError(f"{name}={value!r} {rule}")


@dataclass
class OptimSettings:
    """The optimizer (`name`) and its learning-rate schedule; each optimizer's own settings sit in a block named after
    it, and one the optimizer in force does not read stays at its defaults (used_by)."""

    name: str = choice("adamw", OPTIMIZERS)  # muon: Muon for the hidden matrices, AdamW for the rest
    lr: float = number(1e-3, above=0)
    weight_decay: float = number(0.1, low=0)  # adam, adamw, muon: >= 2-D weights (decay_groups); sgd: every weight
    adam: AdamSettings = block(AdamSettings)
    sgd: SGDSettings = block(SGDSettings)
    muon: MuonSettings = block(MuonSettings)
    schedule: ScheduleSettings = block(ScheduleSettings)
    grad_clip: float | None = number(1.0, low=0, null="(0 or null disables clipping)")

    used_by: ClassVar[dict[str, tuple[str, ...]]] = {
        "adam": ("adamw", "adam", "muon"),  # muon's AdamW, for what is not a hidden matrix
        "sgd": ("sgd",),
        "muon": ("muon",),
    }

    def check(self) -> None:
        check_fields(self, SettingsError)
        for part in (self.adam, self.sgd, self.muon, self.schedule):
            part.check()
        check_used(self, "name", self.used_by, SettingsError)
        if self.schedule.min_lr > self.lr:
            raise _bad("schedule.min_lr", self.schedule.min_lr, f"must be in [0, lr={self.lr}]")

    def build(self, model: LanguageModel) -> nn.Optimizer:
        """The optimizer of `model`'s parameters: no decay on biases and norm gains, Muon's matrices apart."""
        if self.name == "sgd":
            return nn.SGD(model.parameters(), self.sgd, lr=self.lr, weight_decay=self.weight_decay)
        if self.name == "muon":
            groups = nn.muon_groups(model, self.weight_decay, self.muon.weight_decay)
            return nn.Muon(groups, self.muon, self.adam, lr=self.lr)
        groups = nn.decay_groups(model.named_parameters(), self.weight_decay)
        return (nn.AdamW if self.name == "adamw" else nn.Adam)(groups, self.adam, lr=self.lr)


@dataclass
class EvalSettings:
    """How a run is evaluated: nanoGPT's loss estimate every `interval` steps (`iters` batches of train and of val),
    and the exact scoring of whole splits at the end."""

    interval: int = integer(250, low=1)
    iters: int = integer(200, low=1)
    # rows per forward of the exact scoring; null: as many as pay, within the memory (inference.scoring.score_rows)
    batch_size: int | None = integer(None, low=1, null="(as many rows as pay, within the memory)")

    def check(self) -> None:
        check_fields(self, SettingsError)


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
    teacher: TeacherSettings = block(TeacherSettings)  # the loss mixed with an n-gram teacher's (teacher.py)
    eval: EvalSettings = block(EvalSettings)
    checkpoint: CheckpointSettings = block(CheckpointSettings)  # when checkpoints are written, and kept (snapshots)
    grad_stats_interval: int = integer(100, low=1)
    health_interval: int = integer(100, low=0, note="0 turns health statistics off")  # training/health.py
    max_nonfinite: int = integer(0, low=0)  # steps with a non-finite loss/gradient that may be skipped before stopping
    progress: bool = flag(True)
    dvclive: bool = flag(True)  # the run's live log for DVC (live.py); the pipeline (dvc.yaml) needs it
    # weight averaging (average.py): what is scored and saved is the average of the weights after each step
    average: AverageSettings = block(AverageSettings)

    def check(self) -> None:
        check_fields(self, SettingsError)
        for part in (self.teacher, self.eval, self.checkpoint, self.average):
            part.check()
        if self.sampling == "epochs" and self.targets == "last":
            raise SettingsError(
                "sampling=epochs takes whole windows or documents, and targets=last single targets; "
                "set targets=all, or sampling=random"
            )
        if self.teacher.order and self.targets == "last":
            raise SettingsError(
                "teacher.order= mixes an n-gram teacher into the loss of every position, and targets=last trains "
                "one position a row; set targets=all, or teacher.order=0"
            )
        if bad := [k for k in self.checkpoint.snapshots if not 1 <= k < self.max_iters]:
            raise _bad(
                "checkpoint.snapshots",
                list(self.checkpoint.snapshots),
                f"holds {bad[0]}, outside [1, max_iters={self.max_iters}) (the run's end is its own checkpoint); "
                "drop it, or raise max_iters",
            )
        if self.average.on and self.average.start >= self.max_iters:
            raise _bad(
                "average.start",
                self.average.start,
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
    def eval_batch_size(self) -> int | None:
        """Rows per forward when the finished model is scored exactly (None: inference.scoring.score_rows)."""
        return self.train.eval.batch_size if self.train else None

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
    if optim.name == "muon" and optim.muon.split_qkv and not any(p.row_blocks for p in nn.hidden_matrices(model)):
        raise SettingsError(
            f"muon.split_qkv=True orthogonalises the blocks of a fused attention matrix (q, k, v) one by one, and "
            f"this {model.rung} model has none (only the transformer's c_attn is one); set muon.split_qkv=false"
        )
