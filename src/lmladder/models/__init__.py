"""The ladder: its rungs, bottom to top, each a model class in its own module of this package.

`LADDER` is the one list of rungs. Everything that enumerates rungs (the config schema, the training stage, the
evaluate stage, reports, the contract tests, checkpoint loading) reads it, so adding a rung is a model file, one
line here, a conf group and a dvc.yaml stage block (docs/adding-a-rung.md). Modules are imported on first use,
so a stage that trains one rung never imports, and never depends on, the others.
"""

from __future__ import annotations

import importlib
from dataclasses import fields, replace
from typing import TYPE_CHECKING, Any

from ..errors import LmladderError

if TYPE_CHECKING:  # this module stays light: a stage imports only the model modules it uses
    from .base import LanguageModel

# rung (config key, DVC stage, outputs/<rung>/) -> model kind, which is also its module: lmladder.models.<kind>
LADDER = {
    "bigram": "ngram",
    "mlp": "mlp",
    "bow": "bow",
    "wavenet": "wavenet",
    "rnn": "rnn",
    "transformer": "gpt",
}

# Config fields that come from the prepared data (its tokenizer), never from conf/: run_rung fills them in.
DATA_FIELDS = ("vocab_size", "pad_id", "boundary_id")


REGISTRY: dict[str, type[LanguageModel]] = {}  # kind -> class; every LanguageModel subclass with a kind adds itself


class ModelConfigError(LmladderError, ValueError):
    """A model was asked for with bad or inconsistent hyper-parameters; the message names them and the fix."""


def model_class(kind: str) -> type[LanguageModel]:
    """The model class of a kind ("ngram", "mlp", "gpt", ...), importing its module on first use."""
    if kind not in REGISTRY:
        if kind not in LADDER.values():  # never import a module a checkpoint's metadata merely names
            raise ModelConfigError(f"unknown model {str(kind)[:40]!r}; choose from {sorted(LADDER.values())}")
        importlib.import_module(f"{__name__}.{kind}")
    return REGISTRY[kind]


def rung_class(rung: str) -> type[LanguageModel]:
    """The model class that trains on `rung` (a key of LADDER)."""
    return model_class(LADDER[rung])


def for_data(config: Any, data: Any) -> Any:
    """`config` with its DATA_FIELDS set from prepared data (lmladder.data.Prepared): the vocabulary size, the
    left-padding id (the boundary of a lines corpus, makemore's '.', else token 0) and the boundary id."""
    lines = data.kind == "lines"
    known = {"vocab_size": data.vocab_size, "pad_id": data.boundary_id if lines else 0, "boundary_id": data.boundary_id}
    names = {f.name for f in fields(config)}
    return replace(config, **{k: v for k, v in known.items() if k in names})


def build_model(kind: str, *, data: Any = None, rng=None, dtype=None, **config: Any) -> LanguageModel:
    """`kind`'s model from its config fields, its data fields from `data` when given:
    build_model("gpt", vocab_size=65, n_layer=2, rng=rng) or build_model("mlp", data=prepared, rng=rng)."""
    cls = model_class(kind)
    c = cls.Config(**config)
    return cls(c if data is None else for_data(c, data), rng=rng, **({} if dtype is None else {"dtype": dtype}))
