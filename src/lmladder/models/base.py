"""The one model contract of the ladder (makemore's), and the registry that builds a model from its config.

Every rung is a `LanguageModel`:

    logits, loss = model(idx, targets)   # idx (B, T) int ids; logits (B, T, V) Tensor; loss = mean CE or None
    model.block_size                     # longest input it accepts, or None when any length works
    model.config()                       # JSON-able kwargs: type(model)(**model.config()) rebuilds it

so training, evaluation, sampling and checkpoints are written once for all of them.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from ..autograd import Tensor
from ..autograd import functional as F
from ..data.batching import IGNORE_INDEX
from ..errors import LmladderError
from ..nn import Module


class ModelConfigError(LmladderError, ValueError):
    """A model was asked for with bad or inconsistent hyper-parameters; the message names them and the fix."""


def is_size(v) -> bool:
    """A positive integer size (bool is an int to Python, but True is not a size: metadata may say either)."""
    return isinstance(v, int | np.integer) and not isinstance(v, bool | np.bool_) and v > 0


class LanguageModel(Module):
    registry: ClassVar[dict[str, type[LanguageModel]]] = {}
    kind: ClassVar[str] = ""  # registry key, e.g. "ngram", "mlp", "gpt"
    trainable: ClassVar[bool] = True  # False for count models fitted with fit()

    vocab_size: int
    block_size: int | None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.kind:
            LanguageModel.registry[cls.kind] = cls

    def config(self) -> dict[str, Any]:  # pragma: no cover - abstract
        raise NotImplementedError

    def forward(self, idx, targets=None) -> tuple[Tensor, Tensor | None]:  # pragma: no cover - abstract
        raise NotImplementedError

    @staticmethod
    def loss(logits: Tensor, targets) -> Tensor:
        """Mean cross-entropy over targets that are not IGNORE_INDEX."""
        return F.cross_entropy(logits, np.asarray(targets), ignore_index=IGNORE_INDEX)

    def check_input(self, idx: np.ndarray) -> np.ndarray:
        idx = np.asarray(idx.data if isinstance(idx, Tensor) else idx)
        if idx.ndim != 2 or idx.dtype.kind not in "iu":
            raise ModelConfigError(
                f"{type(self).__name__}.forward: idx must be integer ids of shape (B, T), got {idx.dtype} "
                f"{idx.shape}; add a batch dim with idx[None]"
            )
        if self.block_size is not None and idx.shape[1] > self.block_size:
            raise ModelConfigError(
                f"{type(self).__name__}.forward: sequence length {idx.shape[1]} > block_size {self.block_size}; "
                "crop the context to the last block_size tokens"
            )
        return idx


def build_model(kind: str, **kwargs) -> LanguageModel:
    """Instantiate a registered rung by name with its keyword arguments."""
    try:
        cls = LanguageModel.registry[kind]
    except KeyError:
        raise ModelConfigError(f"unknown model {kind!r}; choose from {sorted(LanguageModel.registry)}") from None
    return cls(**kwargs)
