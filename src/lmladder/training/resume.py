"""Resuming a run: a checkpoint's weights, optimizer moments and Generator states loaded into the live objects, and
everything in the file that would make the continued run differ from the uninterrupted one refused first."""

from __future__ import annotations

import math
from dataclasses import asdict
from pathlib import Path
from typing import Any

from .. import nn
from ..checkpoints import TAMPERED, Checkpoint, load_training_checkpoint, restore_rngs
from ..errors import LmladderError
from ..io import CheckpointError, FolderTakenError
from ..models.base import LanguageModel
from ..parallel import World, restored_rank_state
from .rngs import Rngs

_RESUME_META = (("step", 0), ("best_val", math.inf), ("best_step", -1), ("nonfinite_skipped", 0))


class TrainingError(LmladderError, RuntimeError):
    """Training cannot go on (non-finite loss, unusable resume); the message says where and what to do."""


class RunExistsError(TrainingError, FolderTakenError):
    """The output folder holds another run's checkpoint and this one does not resume it: it is left as it was."""


def restore(path: Path, model: LanguageModel, opt: nn.Optimizer, rngs: Rngs, world: World, reshard: bool, average):
    """Load a checkpoint into model, optimizer, generators and `average` (average.WeightAverage: the model gets the
    trained weights); returns (step, best_val, best_step, nonfinite). Anything unusable in the file, another seed
    (rngs.seed) or world size than its own, is an error before a step runs."""
    ck = load_training_checkpoint(path)
    _refuse_another_run(path, ck, model, rngs.seed, world.size, reshard)
    state = _run_state(path, ck.meta)
    _load_optimizer(path, opt, ck.optim_state)
    restore_rngs(rngs, ck.rng_states, path)
    if world.rank:  # rank 0's states are the file's own; the others' dropout streams travel in its metadata
        rngs["model"].bit_generator.state = restored_rank_state(ck.meta, world.rank, rngs.seed, path)
    model.load_state_dict(ck.model.state_dict())
    average.restore(path, ck)
    return state


def _refuse_another_run(path: Path, ck: Checkpoint, model: LanguageModel, seed, size: int, reshard: bool) -> None:
    """A checkpoint of another number of MPI ranks (unless `reshard`), seed, rung or model settings, or one without
    an optimizer state, cannot continue this run: the continued run would not be the uninterrupted one."""
    ranks = ck.meta.get("world_size", 1)
    if not isinstance(ranks, int) or isinstance(ranks, bool) or ranks < 1:
        raise CheckpointError(f"{path}: its world_size {str(ranks)[:20]!r} is not a number of MPI ranks; {TAMPERED}")
    if ranks != size and not reshard:
        raise TrainingError(
            f"cannot resume from {path}: it was trained on {ranks} rank(s), this run has {size}; resume it "
            f"with mpiexec -n {ranks}, or pass reshard=true to go on with {size} (the global batch becomes "
            f"batch_size x grad_accum x {size})"
        )
    theirs = ck.meta.get("seed")
    if seed is not None and theirs is not None and theirs != seed:  # the RNG states restored are the file's seed's
        raise TrainingError(
            f"cannot resume from {path}: it was trained with seed={theirs!r}, this run asks for seed={seed!r}; "
            f"resume with seed={theirs!r} (its results are that seed's), or start a new run"
        )
    if ck.model.rung != model.rung:  # a config diff across two models' schemas would list unrelated fields
        raise TrainingError(
            f"cannot resume from {path}: it holds a {ck.model.rung} model, this run trains a {model.rung}; "
            f"resume it with rung={ck.model.rung}, or start a new run"
        )
    theirs, ours = asdict(ck.model.config), asdict(model.config)
    if theirs != ours:
        diff = [k for k in sorted(set(theirs) | set(ours)) if theirs.get(k) != ours.get(k)]
        has = ", ".join(f"{k}={theirs.get(k)!r}" for k in diff[:4])
        wants = ", ".join(f"{k}={ours.get(k)!r}" for k in diff[:4])
        raise TrainingError(
            f"cannot resume from {path}: its model has {has}, this run asks for {wants}; resume with the same "
            "model settings, or start a new run"
        )
    if ck.optim_state is None:
        raise TrainingError(
            f"cannot resume from {path}: it holds no optimizer state (it can sample and evaluate, not resume); "
            "resume from a model.safetensors written by training"
        )


def _run_state(path: Path, meta: dict) -> tuple:
    """(step, best_val, best_step, nonfinite_skipped) from the checkpoint's metadata, checked."""
    step, best_val, best_step, skipped = (meta.get(k, d) for k, d in _RESUME_META)
    counts_ok = all(isinstance(v, int) and not isinstance(v, bool) for v in (step, best_step, skipped))
    if not (counts_ok and step >= 0 and _numbers(best_val, 0)):
        raise CheckpointError(f"{path}: step/best_val/best_step in its metadata are not numbers; restore it or retrain")
    return step, best_val, best_step, skipped


def _load_optimizer(path: Path, opt: nn.Optimizer, state: dict[str, Any]) -> None:
    """The checkpoint's optimizer state into `opt`, refused unless its groups' settings fit this optimizer's."""
    groups, hyper = opt.state_dict()["hyper"], state["hyper"]
    if len(hyper) != len(groups) or any(
        set(h) - set(g) or any(type(h[k]) is not type(g[k]) and not _numbers(h[k], g[k]) for k in h)
        for h, g in zip(hyper, groups, strict=False)
    ):
        raise CheckpointError(
            f"{path}: optimizer settings do not fit a {type(opt).__name__}; resume with the same optimizer"
        )
    try:
        opt.load_state_dict(state)
    except (ValueError, TypeError, KeyError) as e:
        raise CheckpointError(
            f"{path}: its optimizer state does not fit this model ({str(e).split(';')[0]}); "
            "resume with the same model and optimizer"
        ) from None


def _numbers(a: Any, b: Any) -> bool:
    """Both plain numbers (int/float, not bool), or both lists/tuples of them of the same length."""
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_numbers(x, y) for x, y in zip(a, b, strict=True))
    return all(isinstance(x, int | float) and not isinstance(x, bool) for x in (a, b))
