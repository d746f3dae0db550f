"""Training checkpoints: model weights, optimizer moments and every Generator's state in one safetensors file.

Array names: `model.<param or buffer>` (buffers: BatchNorm's running statistics) and `optim.<buffer>.<param>`;
metadata (JSON) holds the model's rung and its config dataclass's fields, the tokenizer, step, config, seed and RNG
states. A checkpoint alone is enough to sample, evaluate or resume. A run that averages its weights
(train.average: training/average.py) stores the average as `model.<param>`, what every reader loads, and the trained
weights it resumes from as `trained.<param>`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .data.errors import DataError
from .data.registry import tokenizer_from_dict
from .data.tokenizers import Tokenizer
from .io import CheckpointError, load_checkpoint, save_checkpoint
from .models import RetiredConfigError, rung_class
from .models.base import LanguageModel, ModelConfigError
from .nn import Optimizer, StateDictError

FORMAT_VERSION = 3  # the model is {rung, config}
READS = (2, 3)  # 2: the model is {kind, config}, its kind a key of KIND_RUNGS or the rung's own name
KIND_RUNGS = {"ngram": "bigram", "gpt": "transformer"}  # format 2's kinds that are not their rung's name


@dataclass
class Checkpoint:
    model: LanguageModel
    tokenizer: Tokenizer
    meta: dict[str, Any]
    optim_state: dict[str, Any] | None = None  # as Optimizer.load_state_dict expects, or None (count models)
    rng_states: dict[str, Any] = field(default_factory=dict)
    trained: dict[str, np.ndarray] | None = None  # the trained weights by name, when `model` holds their average

    @property
    def step(self) -> int:
        return int(self.meta.get("step", 0))


def save_training_checkpoint(
    path: str | Path,
    model: LanguageModel,
    tokenizer: Tokenizer,
    *,
    optimizer: Optimizer | None = None,
    rngs: dict[str, np.random.Generator] | None = None,
    step: int = 0,
    extra: dict[str, Any] | None = None,
    average: dict[str, np.ndarray] | None = None,
) -> None:
    """Write everything needed to resume: weights, optimizer moments, RNG states, step and `extra` metadata.
    `average` (by parameter name): the average of the trained weights, saved as the model's; the model's own go
    under `trained.`."""
    arrays = {f"model.{k}": v for k, v in model.state_dict().items()}
    if average is not None:
        params = dict(model.named_parameters())
        if set(average) != set(params) or any(a.shape != params[k].shape for k, a in average.items()):
            raise ValueError("average must hold an array of each parameter's shape, by the model's parameter names")
        arrays.update({f"trained.{k}": p.data for k, p in params.items()})
        arrays.update({f"model.{k}": a for k, a in average.items()})
    meta: dict[str, Any] = {
        "version": FORMAT_VERSION,
        "model": {"rung": model.rung, "config": asdict(model.config)},
        "dtype": next((str(a.dtype) for a in arrays.values() if a.dtype.kind == "f"), "float32"),  # of the weights
        "tokenizer": tokenizer.to_dict(),
        "step": int(step),
        "rng_states": {name: g.bit_generator.state for name, g in (rngs or {}).items()},
        **(extra or {}),
    }
    if optimizer is not None:
        by_id = {id(p): n for n, p in model.named_parameters()}
        order = [by_id.get(id(p)) for p in optimizer.params]  # the optimizer's order (its groups), not the model's
        if None in order or len(set(order)) != len(by_id) or len(order) != len(by_id):
            raise ValueError(f"optimizer holds {len(optimizer.params)} parameters, not the model's {len(by_id)}")
        sd = optimizer.state_dict()
        for buf, per_param in sd["buffers"].items():
            for name, arr in zip(order, per_param, strict=True):
                arrays[f"optim.{buf}.{name}"] = arr
        meta["optimizer"] = {
            "class": type(optimizer).__name__,
            "step": sd["step"],
            "hyper": sd["hyper"],
            "buffers": sorted(sd["buffers"]),
            "params": order,
        }
    save_checkpoint(path, arrays, meta)


_FLOAT_DTYPES = ("float16", "float32", "float64")
TAMPERED = "the file was modified or mixed from two runs — restore it or retrain"


def _plan(path, meta: dict, tokenizer: Tokenizer, arrays: dict) -> tuple[type[LanguageModel], Any, str]:
    """(model class, config, dtype) of the model the metadata describes, refused before building (and
    allocating) it when that model does not fit the arrays present."""
    version = meta.get("version")
    if version not in READS:
        raise CheckpointError(
            f"{path}: checkpoint format {str(version)[:20]}, this lmladder reads formats {READS}; "
            "retrain it (`dvc repro`) with this version"
        )
    key = "rung" if version == FORMAT_VERSION else "kind"
    rung, fields, dtype = meta["model"][key], meta["model"]["config"], meta.get("dtype", "float32")
    if not isinstance(rung, str) or not isinstance(fields, dict):
        raise CheckpointError(f"{path}: model rung/config in its metadata are malformed; {TAMPERED}")
    if dtype not in _FLOAT_DTYPES:
        raise CheckpointError(f"{path}: metadata dtype {str(dtype)[:40]!r} is not one of {_FLOAT_DTYPES}; {TAMPERED}")
    cls = rung_class(rung if version == FORMAT_VERSION else KIND_RUNGS.get(rung, rung))
    config = cls.stored_config(fields)  # the fields of an older file mapped to today's settings
    config.check()
    if config.vocab_size != tokenizer.vocab_size:
        raise CheckpointError(
            f"{path}: model vocab_size {str(config.vocab_size)[:40]} differs from its tokenizer's "
            f"{tokenizer.vocab_size} symbols; {TAMPERED}"
        )
    held = sum(a.size for k, a in arrays.items() if k.startswith("model."))
    need = cls.min_params(config)
    if need > 2 * held + 4096:  # slack so a model that gains a few small layers still loads older files
        raise CheckpointError(
            f"{path}: its metadata describes a {cls.rung} model of at least {need:.3g} parameters but the file holds "
            f"{held:,} weights; {TAMPERED}"
        )
    return cls, config, dtype


def _shape_mismatch(model: LanguageModel, weights: dict[str, np.ndarray]) -> str | None:
    want = {k: v.shape for k, v in model.state_dict().items()}
    problems = [f"model.{k} is missing" for k in sorted(set(want) - set(weights))]
    problems += [f"model.{k} is not part of a {model.rung} model" for k in sorted(set(weights) - set(want))]
    if not model.sized_by_data:  # a model sized by its data checks the lengths in its own load_state_dict
        problems += [
            f"model.{k} is {tuple(weights[k].shape)}, the model needs {tuple(want[k])}"
            for k in sorted(set(want) & set(weights))
            if tuple(weights[k].shape) != tuple(want[k])
        ]
    if not problems:
        return None
    more = f" and {len(problems) - 3} more" if len(problems) > 3 else ""
    return ", ".join(problems[:3]) + more


def _check_finite(path, arrays: dict[str, np.ndarray]) -> None:
    """Training never saves NaN/inf weights or moments (it stops first), so such a file would sample empty strings
    and score NaN: refuse it, naming the tensor."""
    for name, a in arrays.items():
        if a.dtype.kind == "f" and (bad := a.size - int(np.count_nonzero(np.isfinite(a)))):
            raise CheckpointError(
                f"{path}: tensor '{name}' holds {bad} non-finite value{'s' if bad > 1 else ''} (NaN/inf); the run "
                "diverged or the file was edited — restore an earlier checkpoint or retrain"
            )


def load_training_checkpoint(path: str | Path) -> Checkpoint:
    """Rebuild the model from a checkpoint's own metadata and load its weights (and optimizer state, if any).
    Everything that can go wrong with the file raises CheckpointError (one line: the file, the problem, the fix)."""
    arrays, meta = load_checkpoint(path)
    _check_finite(path, arrays)
    try:
        tokenizer = tokenizer_from_dict(meta["tokenizer"])
        cls, config, dtype = _plan(path, meta, tokenizer, arrays)
        arrays, meta = _renamed(arrays, meta, cls.renamed_weights(meta["model"]["config"]))
        model = cls(config, rng=np.random.default_rng(0), dtype=np.dtype(dtype))
        weights = {k[6:]: v for k, v in arrays.items() if k.startswith("model.")}
        if problem := _shape_mismatch(model, weights):
            raise CheckpointError(
                f"{path}: its arrays do not match the {cls.rung} model its metadata describes ({problem}); {TAMPERED}"
            )
        model.load_state_dict(weights)
    except CheckpointError:
        raise
    except StateDictError as e:  # before KeyError, which it also is
        reason = str(e).split(";")[0]  # the model's own fix is for whoever builds it; for a file, ours applies
        raise CheckpointError(
            f"{path}: its arrays do not load into the model its metadata describes ({reason}); {TAMPERED}"
        ) from None
    except RetiredConfigError as e:
        raise CheckpointError(f"{path}: {e}") from None
    except (ModelConfigError, DataError) as e:
        reason = str(e).split(";")[0]
        raise CheckpointError(f"{path}: its metadata describes no buildable model ({reason}); {TAMPERED}") from None
    except KeyError as e:
        raise CheckpointError(
            f"{path}: its metadata lacks {str(e)[:60]}; the file was not written by lmladder training — "
            "retrain or re-save it"
        ) from None
    except (TypeError, ValueError, AttributeError, IndexError) as e:
        raise CheckpointError(
            f"{path}: its metadata is malformed ({str(e)[:60]}); the file was not written by lmladder training — "
            "retrain or re-save it"
        ) from None
    optim_state = _optim_state(path, meta["optimizer"], arrays, model) if "optimizer" in meta else None
    rng_states = meta.get("rng_states", {})
    if not isinstance(rng_states, dict):
        raise CheckpointError(f"{path}: rng_states in its metadata is not a map; {TAMPERED}")
    ck = Checkpoint(model=model, tokenizer=tokenizer, meta=meta, optim_state=optim_state, rng_states=rng_states)
    ck.trained = _trained(path, arrays, model)
    return ck


def _renamed(arrays: dict, meta: dict, renamed: dict[str, str]) -> tuple[dict, dict]:
    """The arrays and metadata with each weight that an older file holds under an older name (a key of `renamed`)
    under its name now: as the model's, the trained and the optimizer's arrays, and in the optimizer's order."""
    if not renamed:
        return arrays, meta
    new = lambda name: renamed.get(name, name)  # noqa: E731
    out = {}
    for key, a in arrays.items():
        head, _, name = key.partition(".")
        if head == "optim":  # optim.<buffer>.<parameter>
            buf, _, name = name.partition(".")
            head = f"optim.{buf}"
        out[f"{head}.{new(name)}"] = a
    if isinstance(meta.get("optimizer"), dict) and isinstance(meta["optimizer"].get("params"), list):
        meta = {**meta, "optimizer": {**meta["optimizer"], "params": [new(n) for n in meta["optimizer"]["params"]]}}
    return out, meta


def _trained(path, arrays: dict, model: LanguageModel) -> dict[str, np.ndarray] | None:
    """The `trained.` weights of a file whose model weights are their average, each a parameter's, or None."""
    trained = {k[8:]: v for k, v in arrays.items() if k.startswith("trained.")}
    if not trained:
        return None
    params = dict(model.named_parameters())
    if set(trained) != set(params) or any(trained[k].shape != p.data.shape for k, p in params.items()):
        raise CheckpointError(f"{path}: its trained. weights are not one of each parameter of its model; {TAMPERED}")
    return {k: v.astype(params[k].data.dtype, copy=False) for k, v in trained.items()}


def _optim_state(path, om: Any, arrays: dict, model: LanguageModel) -> dict[str, Any]:
    ok = (
        isinstance(om, dict)
        and isinstance(om.get("buffers"), list)
        and all(isinstance(b, str) for b in om["buffers"])
        and isinstance(om.get("step"), int)
        and not isinstance(om.get("step"), bool)
        and om["step"] >= 0
        and isinstance(om.get("hyper"), list)
        and all(isinstance(h, dict) for h in om["hyper"])
    )
    if not ok:
        raise CheckpointError(f"{path}: optimizer metadata is malformed; {TAMPERED}")
    params = dict(model.named_parameters())
    order = om.get("params")  # the optimizer's parameter order, which the buffers follow
    if not (isinstance(order, list) and sorted(map(str, order)) == sorted(params) and len(order) == len(params)):
        raise CheckpointError(f"{path}: optimizer metadata names other parameters than the model's; {TAMPERED}")
    buffers = {}
    for buf in om["buffers"]:
        if missing := [n for n in order if f"optim.{buf}.{n}" not in arrays]:
            raise CheckpointError(
                f"{path}: optimizer buffer optim.{buf}.{missing[0]} is missing; the checkpoint cannot resume "
                "training (it can still sample and evaluate)"
            )
        if bad := [n for n in order if arrays[f"optim.{buf}.{n}"].shape != params[n].shape]:
            raise CheckpointError(f"{path}: optimizer buffer optim.{buf}.{bad[0]} has the wrong shape; {TAMPERED}")
        buffers[buf] = [arrays[f"optim.{buf}.{n}"] for n in order]
    return {"step": om["step"], "hyper": om["hyper"], "buffers": buffers}


def restore_rngs(rngs: dict[str, np.random.Generator], states: dict[str, Any], path: Any = "checkpoint") -> None:
    """Set each Generator's state in place (objects already held by the model keep working)."""
    for name, g in rngs.items():
        if name not in states:
            raise CheckpointError(f"{path}: has no state for the '{name}' generator; resume with the same code")
        try:
            g.bit_generator.state = states[name]
        except (TypeError, ValueError, KeyError, OverflowError) as e:
            raise CheckpointError(
                f"{path}: its state for the '{name}' generator is unusable ({str(e)[:60]}); {TAMPERED}"
            ) from None


def load_components(model: LanguageModel) -> dict[str, Checkpoint]:
    """The checkpoints `model`'s config names for its fit (LanguageModel.components: the mixture's `neural`),
    loaded, by field: `model.fit(train, **load_components(model))`. A field left null is left out."""
    found = {}
    for name in model.components:
        path = getattr(model.config, name)
        if path is None:
            continue
        if not Path(path).exists():
            raise ModelConfigError(
                f"{name}={path!r}: no checkpoint there; train the {name} model first (python stages/train.py "
                "rung=transformer ...) and give its model.safetensors"
            )
        found[name] = load_training_checkpoint(path)  # a bad file: one line naming it and the fix
    return found
