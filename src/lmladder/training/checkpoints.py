"""Training checkpoints: model weights, optimizer moments and every Generator's state in one safetensors file.

Array names: `model.<param>` and `optim.<buffer>.<param>`; metadata (JSON) holds the model class and kwargs,
the tokenizer, step, config, seed and RNG states. A checkpoint alone is enough to sample, evaluate or resume.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..data.tokenizers import Tokenizer, tokenizer_from_dict
from ..io import CheckpointError, load_checkpoint, save_checkpoint
from ..models import LanguageModel, ModelConfigError, build_model
from ..nn import Optimizer, StateDictError

FORMAT_VERSION = 1


@dataclass
class Checkpoint:
    model: LanguageModel
    tokenizer: Tokenizer
    meta: dict[str, Any]
    optim_state: dict[str, Any] | None = None  # as Optimizer.load_state_dict expects, or None (count models)
    rng_states: dict[str, Any] = field(default_factory=dict)

    @property
    def step(self) -> int:
        return int(self.meta.get("step", 0))


def _param_names(model: LanguageModel) -> list[str]:
    return [n for n, _ in model.named_parameters()]


def save_training_checkpoint(
    path: str | Path,
    model: LanguageModel,
    tokenizer: Tokenizer,
    *,
    optimizer: Optimizer | None = None,
    rngs: dict[str, np.random.Generator] | None = None,
    step: int = 0,
    extra: dict[str, Any] | None = None,
) -> None:
    """Write everything needed to resume: weights, optimizer moments, RNG states, step and `extra` metadata."""
    arrays = {f"model.{k}": v for k, v in model.state_dict().items()}
    meta: dict[str, Any] = {
        "version": FORMAT_VERSION,
        "model": {"kind": model.kind, "kwargs": model.config()},
        "dtype": str(next(iter(arrays.values())).dtype) if arrays else "float32",
        "tokenizer": tokenizer.to_dict(),
        "step": int(step),
        "rng_states": {name: g.bit_generator.state for name, g in (rngs or {}).items()},
        **(extra or {}),
    }
    if optimizer is not None:
        names = _param_names(model)
        if len(names) != len(optimizer.params):
            raise ValueError(f"optimizer holds {len(optimizer.params)} parameters, model has {len(names)}")
        sd = optimizer.state_dict()
        for buf, per_param in sd["buffers"].items():
            for name, arr in zip(names, per_param, strict=True):
                arrays[f"optim.{buf}.{name}"] = arr
        meta["optimizer"] = {
            "class": type(optimizer).__name__,
            "step": sd["step"],
            "hyper": sd["hyper"],
            "buffers": sorted(sd["buffers"]),
        }
    save_checkpoint(path, arrays, meta)


def load_training_checkpoint(path: str | Path) -> Checkpoint:
    """Rebuild the model from a checkpoint's own metadata and load its weights (and optimizer state, if any)."""
    arrays, meta = load_checkpoint(path)
    try:
        kind, kwargs = meta["model"]["kind"], dict(meta["model"]["kwargs"])
        tokenizer = tokenizer_from_dict(meta["tokenizer"])
        dtype = np.dtype(meta.get("dtype", "float32"))
        model = build_model(kind, rng=np.random.default_rng(0), dtype=dtype, **kwargs)
        model.load_state_dict({k[6:]: v for k, v in arrays.items() if k.startswith("model.")})
    except (ModelConfigError, StateDictError, ValueError) as e:  # StateDictError first: it is also a KeyError
        raise CheckpointError(f"{path}: arrays do not fit the model described in its metadata ({e})") from None
    except (KeyError, TypeError) as e:
        raise CheckpointError(
            f"{path}: metadata lacks or mangles {e}; the file was not written by lmladder "
            "training — retrain or re-save it"
        ) from None
    optim_state = None
    if "optimizer" in meta:
        names = _param_names(model)
        buffers = {}
        for buf in meta["optimizer"]["buffers"]:
            try:
                buffers[buf] = [arrays[f"optim.{buf}.{n}"] for n in names]
            except KeyError as e:
                raise CheckpointError(
                    f"{path}: optimizer buffer {e} missing; the checkpoint cannot resume "
                    "training (it can still sample and evaluate)"
                ) from None
        optim_state = {"step": meta["optimizer"]["step"], "hyper": meta["optimizer"]["hyper"], "buffers": buffers}
    return Checkpoint(
        model=model, tokenizer=tokenizer, meta=meta, optim_state=optim_state, rng_states=meta.get("rng_states", {})
    )


def restore_rngs(rngs: dict[str, np.random.Generator], states: dict[str, Any]) -> None:
    """Set each Generator's state in place (objects already held by the model keep working)."""
    for name, g in rngs.items():
        if name not in states:
            raise CheckpointError(f"checkpoint has no state for the '{name}' generator; resume with the same code")
        g.bit_generator.state = states[name]
