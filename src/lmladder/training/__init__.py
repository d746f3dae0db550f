"""Training for every rung of the ladder: the trainer, its checkpoints and a whole run from data to report."""

from .batches import estimate_loss
from .checkpoints import Checkpoint, load_training_checkpoint, save_training_checkpoint
from .loop import Trainer, TrainResult, train
from .resume import TrainingError
from .rngs import Rngs, make_rngs
from .run import run_rung
from .settings import OptimSettings, SampleSettings, SettingsError, TrainSettings

__all__ = [
    "Checkpoint",
    "load_training_checkpoint",
    "save_training_checkpoint",
    "estimate_loss",
    "Trainer",
    "TrainingError",
    "TrainResult",
    "train",
    "Rngs",
    "make_rngs",
    "run_rung",
    "OptimSettings",
    "SampleSettings",
    "SettingsError",
    "TrainSettings",
]
