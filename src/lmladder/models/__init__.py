"""The rungs of the ladder, all speaking the contract in `base.py`."""

from .base import IGNORE_INDEX, LanguageModel, ModelConfigError, build_model
from .gpt import GPT, KVCache
from .mlp import MLP

try:  # the count model lives in its own module (added alongside the data package)
    from .ngram import NGram
except ImportError:  # pragma: no cover
    NGram = None

__all__ = ["IGNORE_INDEX", "LanguageModel", "ModelConfigError", "build_model", "GPT", "KVCache", "MLP", "NGram"]
