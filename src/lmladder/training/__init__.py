"""Training for every rung of the ladder: the trainer and a whole run from data to report (checkpoints: one floor
down, lmladder.checkpoints)."""

from ..rules import SettingsError
from .batches import estimate_loss
from .loop import Trainer, TrainResult, train
from .resume import TrainingError
from .rngs import Rngs, make_rngs
from .run import run_rung
from .settings import EvalSettings, OptimSettings, Run, SampleSettings, TrainSettings
from .snapshots import CheckpointSettings

__all__ = [
    "estimate_loss",
    "Trainer",
    "TrainingError",
    "TrainResult",
    "train",
    "Rngs",
    "make_rngs",
    "Run",
    "run_rung",
    "CheckpointSettings",
    "EvalSettings",
    "OptimSettings",
    "SampleSettings",
    "SettingsError",
    "TrainSettings",
]
