"""Training checkpoints: model weights, optimizer moments and every Generator's state in one safetensors file.

Array names: `model.<param>` and `optim.<buffer>.<param>`; metadata (JSON) holds the model class and kwargs,
the tokenizer, step, config, seed and RNG states. A checkpoint alone is enough to sample, evaluate or resume.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..data.errors import DataError
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
_FIX = "the file was modified or mixed from two runs — restore it or retrain"


def _int_kwarg(path, kwargs: dict, key: str, default: int) -> int:
    v = kwargs.get(key, default)
    if not isinstance(v, int) or isinstance(v, bool) or v < 0:
        raise CheckpointError(f"{path}: model kwarg {key}={str(v)[:40]!r} in its metadata is not a size; {_FIX}")
    return v


def _min_params(path, kind: str, kw: dict) -> float:
    """A lower bound on the parameter count of the model the metadata describes, from its sizes alone (no build).
    Lower bound on purpose: a legitimate checkpoint never exceeds it, whatever small layers a model adds."""
    V = _int_kwarg(path, kw, "vocab_size", 1)
    if kind == "gpt":
        C, L, B = (_int_kwarg(path, kw, k, d) for k, d in (("n_embd", 128), ("n_layer", 4), ("block_size", 64)))
        head = 0 if kw.get("tie_weights", True) else V * C
        return float(V * C + B * C + L * 12 * C * C + head)  # embeddings + per block: qkv 3C², proj C², MLP 8C²
    if kind == "mlp":
        E, H, K, L = (
            _int_kwarg(path, kw, k, d) for k, d in (("n_embd", 10), ("n_hidden", 200), ("context", 3), ("n_layers", 1))
        )
        return float(V * E + K * E * H + max(L - 1, 0) * (H * H + H) + H * V)
    if kind == "ngram":
        order = _int_kwarg(path, kw, "order", 2)
        return math.inf if order * math.log(max(V, 1)) > 100 else float(V**order)  # logs: no huge powers
    return 0.0  # unknown kinds are refused by build_model


def _check_plan(path, kind: Any, kwargs: Any, tokenizer: Tokenizer, arrays: dict, dtype: Any) -> None:
    """Refuse metadata that does not describe the arrays present, before building (and allocating) the model."""
    if not isinstance(kind, str) or not isinstance(kwargs, dict):
        raise CheckpointError(f"{path}: model kind/kwargs in its metadata are malformed; {_FIX}")
    if dtype not in _FLOAT_DTYPES:
        raise CheckpointError(f"{path}: metadata dtype {str(dtype)[:40]!r} is not one of {_FLOAT_DTYPES}; {_FIX}")
    if kwargs.get("vocab_size") != tokenizer.vocab_size:
        raise CheckpointError(
            f"{path}: model vocab_size {str(kwargs.get('vocab_size'))[:40]} differs from its tokenizer's "
            f"{tokenizer.vocab_size} symbols; {_FIX}"
        )
    held = sum(a.size for k, a in arrays.items() if k.startswith("model."))
    need = _min_params(path, kind, kwargs)
    if need > 2 * held + 4096:  # slack so a model that gains a few small layers still loads older files
        raise CheckpointError(
            f"{path}: its metadata describes a {kind} of at least {need:.3g} parameters but the file holds "
            f"{held:,} weights; {_FIX}"
        )


def _shape_mismatch(model: LanguageModel, weights: dict[str, np.ndarray]) -> str | None:
    want = {k: v.shape for k, v in model.state_dict().items()}
    problems = [f"model.{k} is missing" for k in sorted(set(want) - set(weights))]
    problems += [f"model.{k} is not part of a {model.kind}" for k in sorted(set(weights) - set(want))]
    problems += [
        f"model.{k} is {tuple(weights[k].shape)}, the model needs {tuple(want[k])}"
        for k in sorted(set(want) & set(weights))
        if tuple(weights[k].shape) != tuple(want[k])
    ]
    if not problems:
        return None
    more = f" and {len(problems) - 3} more" if len(problems) > 3 else ""
    return ", ".join(problems[:3]) + more


def load_training_checkpoint(path: str | Path) -> Checkpoint:
    """Rebuild the model from a checkpoint's own metadata and load its weights (and optimizer state, if any).
    Everything that can go wrong with the file raises CheckpointError (one line: the file, the problem, the fix)."""
    arrays, meta = load_checkpoint(path)
    try:
        kind, kwargs = meta["model"]["kind"], meta["model"]["kwargs"]
        tokenizer = tokenizer_from_dict(meta["tokenizer"])
        dtype = meta.get("dtype", "float32")
        _check_plan(path, kind, kwargs, tokenizer, arrays, dtype)
        model = build_model(kind, rng=np.random.default_rng(0), dtype=np.dtype(dtype), **kwargs)
        weights = {k[6:]: v for k, v in arrays.items() if k.startswith("model.")}
        if problem := _shape_mismatch(model, weights):
            raise CheckpointError(
                f"{path}: its arrays do not match the {kind} its metadata describes ({problem}); {_FIX}"
            )
        model.load_state_dict(weights)
    except CheckpointError:
        raise
    except (ModelConfigError, StateDictError, DataError) as e:  # StateDictError first: it is also a KeyError
        reason = str(e).split(";")[0]  # the model's own fix names a config key; for a file, ours applies
        raise CheckpointError(f"{path}: its metadata describes no buildable model ({reason}); {_FIX}") from None
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
    optim_state = None
    if "optimizer" in meta:
        optim_state = _optim_state(path, meta["optimizer"], arrays, model)
    rng_states = meta.get("rng_states", {})
    if not isinstance(rng_states, dict):
        raise CheckpointError(f"{path}: rng_states in its metadata is not a map; {_FIX}")
    return Checkpoint(model=model, tokenizer=tokenizer, meta=meta, optim_state=optim_state, rng_states=rng_states)


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
        raise CheckpointError(f"{path}: optimizer metadata is malformed; {_FIX}")
    params = dict(model.named_parameters())
    # files from before "params" was recorded named the buffers in model order; their shapes are checked by
    # Optimizer.load_state_dict, in the optimizer's order
    order = om.get("params", _param_names(model))
    if not (isinstance(order, list) and sorted(map(str, order)) == sorted(params) and len(order) == len(params)):
        raise CheckpointError(f"{path}: optimizer metadata names other parameters than the model's; {_FIX}")
    buffers = {}
    for buf in om["buffers"]:
        missing = [n for n in order if f"optim.{buf}.{n}" not in arrays]
        if missing:
            raise CheckpointError(
                f"{path}: optimizer buffer optim.{buf}.{missing[0]} is missing; the checkpoint cannot resume "
                "training (it can still sample and evaluate)"
            )
        bad = [n for n in order if "params" in om and arrays[f"optim.{buf}.{n}"].shape != params[n].shape]
        if bad:
            raise CheckpointError(f"{path}: optimizer buffer optim.{buf}.{bad[0]} has the wrong shape; {_FIX}")
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
                f"{path}: its state for the '{name}' generator is unusable ({str(e)[:60]}); {_FIX}"
            ) from None
