"""The rungs of the ladder, all speaking the contract in `base.py`."""

from .base import IGNORE_INDEX, LanguageModel, ModelConfigError, build_model
from .gpt import GPT, KVCache
from .mlp import MLP
from .ngram import NGram

__all__ = ["IGNORE_INDEX", "LanguageModel", "ModelConfigError", "build_model", "GPT", "KVCache", "MLP", "NGram"]
