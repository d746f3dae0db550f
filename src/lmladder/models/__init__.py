"""The ladder. A rung is a module of this package named after it (bigram.py, mlp.py, ..., transformer.py) whose
model class sets `rung` to that name and `ladder_position` to its place on the ladder (models/base.py).

Every module here is a rung except `base` (the contract) and a rung's helpers, named `<rung>_<part>.py`
(bigram_counts.py). `rungs()` reads only the file names, so a stage that trains one rung imports, and depends on,
that rung's module alone; `ladder()` imports them all and orders them bottom to top. Nothing else lists the rungs:
adding one is a model file and a conf group (docs/adding-a-rung.md).
"""

from __future__ import annotations

import hashlib
import importlib
import json
import pkgutil
from dataclasses import fields, replace
from functools import cache
from typing import TYPE_CHECKING, Any

from ..errors import LmladderError

if TYPE_CHECKING:  # this module stays light: a stage imports only the model modules it uses
    from .base import LanguageModel

# Config fields that come from the prepared data (its tokenizer), never from conf/: for_data fills them in.
DATA_FIELDS = ("vocab_size", "pad_id", "boundary_id", "tokenizer_digest")

REGISTRY: dict[str, type[LanguageModel]] = {}  # rung -> model class; a LanguageModel that sets `rung` adds itself


class ModelConfigError(LmladderError, ValueError):
    """A model was asked for with bad or inconsistent hyper-parameters; the message names them and the fix."""


class RetiredConfigError(ModelConfigError):
    """A checkpoint's stored config describes a model this lmladder no longer builds; the message says how to
    get it back."""


@cache
def rungs() -> tuple[str, ...]:
    """The rungs' names, alphabetically, from this package's module files (none is imported)."""
    names = {m.name for m in pkgutil.iter_modules(__path__) if not m.ispkg} - {"base"}
    return tuple(sorted(n for n in names if not any(n.startswith(f"{o}_") for o in names)))


def rung_class(rung: str) -> type[LanguageModel]:
    """The model class of `rung` ("bigram", "mlp", "transformer", ...), importing its module on first use."""
    if rung not in REGISTRY:
        if rung not in rungs():  # never import a module a checkpoint's metadata merely names
            raise ModelConfigError(f"unknown rung {str(rung)[:40]!r}; choose one of {', '.join(rungs())}")
        importlib.import_module(f"{__name__}.{rung}")
        if rung not in REGISTRY:
            raise ModelConfigError(
                f"lmladder/models/{rung}.py defines no model with rung = {rung!r}; set it in its LanguageModel "
                f"class, or name a helper module <rung>_<part>.py"
            )
    return REGISTRY[rung]


def ladder() -> list[str]:
    """Every rung, bottom to top (by its class's `ladder_position`); imports every rung's module."""
    return sorted(rungs(), key=lambda r: rung_class(r).ladder_position)


def tokenizer_digest(tokenizer: Any) -> str:
    """A tokenizer's identity: sha256 of its dict form (what checkpoints and vocab.json store), 16 hex digits."""
    text = json.dumps(tokenizer.to_dict(), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def for_data(config: Any, data: Any) -> Any:
    """`config` with its DATA_FIELDS set from prepared data (lmladder.data.Prepared): the vocabulary size, the
    left-padding id (the boundary of a lines corpus, makemore's '.', else token 0), the boundary id and, for a
    model that reads another model's checkpoint (the mixture), the tokenizer's digest."""
    lines = data.kind == "lines"
    known = {"vocab_size": data.vocab_size, "pad_id": data.boundary_id if lines else 0, "boundary_id": data.boundary_id}
    names = {f.name for f in fields(config)}
    if "tokenizer_digest" in names:  # hashing a BPE vocabulary costs a little: only for a model that declares it
        known["tokenizer_digest"] = tokenizer_digest(data.tokenizer)
    return replace(config, **{k: v for k, v in known.items() if k in names})


def build_model(rung: str, *, data: Any = None, rng=None, dtype=None, **config: Any) -> LanguageModel:
    """`rung`'s model from its config fields, its data fields from `data` when given:
    build_model("transformer", vocab_size=65, n_layer=2, rng=rng) or build_model("mlp", data=prepared, rng=rng)."""
    cls = rung_class(rung)
    c = cls.Config(**config)
    return cls(c if data is None else for_data(c, data), rng=rng, **({} if dtype is None else {"dtype": dtype}))
