"""Training, evaluation, sampling and checkpoints, written once for every rung of the ladder."""

from .checkpoints import Checkpoint, load_training_checkpoint, save_training_checkpoint
from .evaluate import estimate_loss, score_tokens
from .loop import TrainingError, TrainResult, make_rngs, train
from .run import run_rung, sample_text, score_splits
from .sampling import SamplingError, generate, next_token
from .settings import OptimSettings, SampleSettings, SettingsError, TrainSettings

__all__ = [
    "Checkpoint",
    "load_training_checkpoint",
    "save_training_checkpoint",
    "estimate_loss",
    "score_tokens",
    "TrainingError",
    "TrainResult",
    "make_rngs",
    "train",
    "run_rung",
    "sample_text",
    "score_splits",
    "SamplingError",
    "generate",
    "next_token",
    "OptimSettings",
    "SampleSettings",
    "SettingsError",
    "TrainSettings",
]
