"""One run of any rung from start to report, as steps of one value (settings.Run): build the model for the data, fit
or train it, score val/test exactly, sample, and write metrics.json (quality only: it is what DVC compares),
units.npz (per-unit scores for the paired bootstrap, inference/units.py), timing.json (wall clock, machine-local)
and samples.txt next to the checkpoints (for a lines corpus each sample labelled train/val/test/new, and the
counts with the novelty rate in metrics.json's `samples`). Stages make the Run and call `run_rung`."""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .. import fast
from ..checkpoints import load_components, load_training_checkpoint, save_training_checkpoint
from ..data.config import from_stored as stored_data
from ..inference.novelty import label_samples
from ..inference.sampling import sample_text
from ..inference.scoring import score_splits, score_splits_units
from ..inference.units import UNITS_FILE, SplitUnits, save_units
from ..io import atomic_write_json, atomic_write_text, run_lock
from ..models import tokenizer_digest
from ..models.base import LanguageModel, ModelConfigError
from ..parallel import rank_stream
from . import budget, health
from .live import EVAL_VAL
from .loop import LAST, Trainer, TrainResult
from .rngs import Rngs, make_rngs
from .settings import Run
from .timing import TIMING

METRICS = "metrics.json"
HEALTH = "health.json"  # training/health.py: summarize


@dataclass
class Samples:
    texts: list[str]
    labels: list[str] | None = None  # lines corpora: each sample's train/val/test/new (inference/novelty.py)
    counts: dict[str, Any] | None = None  # and how many of each, with the novelty rate


def run_rung(run: Run) -> dict:
    """The whole run: its model fitted (count models) or trained, then the final and best-val checkpoints scored
    exactly and the final one sampled; returns metrics.json's content with the training time and speed. The run
    holds the lock of its folder (io.lock): a second run into the same folder fails at once. Under MPI, rank 0
    holds the lock, writes, scores and samples; the other ranks return {} once training ends."""
    fast.configure(threads=run.world.threads)
    with run_lock(run.out_dir) if run.world.lead else contextlib.nullcontext():
        model, rngs = build(run)
        result = train_model(run, model, rngs) if run.cls.trainable else fit_model(run, model, rngs)
        if not run.world.lead:
            return {}
        metrics, units = score(run, model, result)
        return write(run, result, metrics, units, sample(run, model, rngs["sample"]))


def build(run: Run) -> tuple[LanguageModel, Rngs]:
    """The run's model, refused first when its weights cannot fit, and its random streams."""
    rngs = make_rngs(run.seed)
    budget.check_weights(run.cls, run.config)
    model = run.cls(run.config, rng=rngs["model"])  # the same weights on every rank: they all draw from the seed
    if run.world.rank:  # then each rank's own dropout masks
        rngs["model"].bit_generator.state = rank_stream(run.seed, run.world.rank).bit_generator.state
    return model, rngs


def train_model(run: Run, model: LanguageModel, rngs: Rngs) -> TrainResult:
    """Train by gradient descent (loop.py), after checking that a step, the scoring and the samples fit in memory."""
    if run.world.lead:
        run.log(f"{run.cls.rung}: {model.num_parameters():,} parameters")
    trainer = Trainer(model, run, rngs)
    budget.check_training(model, run.train, run.sample, seq_len=trainer.seq_len)
    result = trainer.run()
    if run.world.lead and run.train.health_interval:
        atomic_write_json(run.out_dir / HEALTH, health.summarize(run.out_dir, run.optim.grad_clip))
    return result


def fit_model(run: Run, model: LanguageModel, rngs: Rngs) -> TrainResult:
    """Count the model on the train split (with the trained models its config names, LanguageModel.components,
    and the other splits it is tuned on, LanguageModel.tuned_on)."""
    t0 = time.perf_counter()
    components = load_components(model)
    for name, ck in components.items():  # another tokenizer: the model's own check names that first
        if tokenizer_digest(ck.tokenizer) == tokenizer_digest(run.data.tokenizer):
            same_split(name, ck.meta.get("data"), run.meta.get("data"), getattr(model.config, name))
    splits = {name: np.asarray(run.data.splits[name]) for name in model.tuned_on}
    model.fit(np.asarray(run.data.splits["train"]), **components, **splits)
    seconds = time.perf_counter() - t0
    run.log(f"{run.cls.rung}: {model.num_parameters():,} parameters, counted in {seconds:.1f}s")  # from the data
    if said := model.fit_summary():
        run.log(f"{run.cls.rung}: {said}")
    save_training_checkpoint(run.out_dir / LAST, model, run.data.tokenizer, rngs=rngs, extra=run.checkpoint_meta)
    speed = len(run.data.splits["train"]) / max(seconds, 1e-9)
    return TrainResult(
        step=0, best_val=math.inf, best_step=-1, train_time_s=seconds, tokens_per_s=speed, best_path=None
    )


SPLIT_KEYS = ("source", "babynames", "url", "sha256", "kind", "fractions", "split_seed")  # what decides the splits


def same_split(name: str, theirs: dict | None, ours: dict | None, path: str) -> None:
    """A component trained on another split of the corpus saw this run's val or test text in its training: its
    scores here would be flattered. Checkpoints without data settings (made outside a stage) are taken as given;
    those of a checkpoint written before the data settings' blocks are read in today's keys."""
    if not theirs or not ours:
        return
    theirs, ours = stored_data(theirs), stored_data(ours)
    differ = [k for k in SPLIT_KEYS if k in theirs and k in ours and theirs[k] != ours[k]]
    if differ:
        was = ", ".join(f"data.{k}={theirs[k]!r}" for k in differ)
        now = ", ".join(f"{ours[k]!r}" for k in differ)
        raise ModelConfigError(
            f"{name}={path!r} was trained with {was}, this run has {now}: another split of the data, so its training "
            "saw this run's val or test text; train it with this run's data settings"
        )


def score(run: Run, model: LanguageModel, result: TrainResult) -> tuple[dict[str, Any], dict[str, SplitUnits]]:
    """metrics.json's content: the final model's exact val/test scores (and per-unit sums), and the best-val
    checkpoint's under `best`."""
    batch, show = run.eval_batch_size, run.progress
    scores, units = score_splits_units(model, run.data, batch, progress=show)
    metrics: dict[str, Any] = {
        "rung": run.cls.rung,
        "tokenizer": run.data.tokenizer.describe(),
        "seed": run.seed,
        "params": model.num_parameters(),
        "step": result.step,
        **scores,
    }
    if result.best_path is not None:
        if result.best_step == result.step:  # the best checkpoint is the final model: its scores are those above
            best_scores = scores
        else:
            best = load_training_checkpoint(result.best_path).model
            best_scores = score_splits(best, run.data, batch, progress=show)
        metrics["best"] = {"step": result.best_step, "val_estimate": result.best_val, **best_scores}
    return metrics, units


def sample(run: Run, model: LanguageModel, rng: np.random.Generator) -> Samples:
    """The run's samples from the final model; a lines corpus's labelled by where each one occurs."""
    s = run.sample
    texts = sample_text(
        model, run.data, rng, num_samples=s.num_samples, sample_tokens=s.sample_tokens, temperature=s.temperature
    )
    if run.data.kind != "lines":
        return Samples(texts)
    return Samples(texts, *label_samples(texts, run.data))


def write(run: Run, result: TrainResult, metrics: dict, units: dict, samples: Samples) -> dict:
    """samples.txt, units.npz, then metrics.json, whose presence marks a finished run (and a counted model's
    timing.json and its one-point live log); returns the metrics with the training time and speed."""
    out = run.out_dir
    if run.live and not run.cls.trainable:  # a counted model has no steps: its curve is one point, its exact val NLL
        run.live.open()
        run.live.log(0, {EVAL_VAL: metrics["val"]["nll"]})
        run.live.close()
    if samples.counts is not None:
        metrics["samples"] = samples.counts
    _write_samples(out / "samples.txt", samples, run.data.kind)
    save_units(out / UNITS_FILE, units)
    atomic_write_json(out / METRICS, metrics)
    seconds, speed = result.train_time_s, result.tokens_per_s
    if not run.cls.trainable:  # the training loop keeps its own timing.json, across resumes (timing.py)
        atomic_write_json(out / TIMING, {"train_time_s": seconds, "tokens_per_s": speed})
    return {**metrics, "train_time_s": seconds, "tokens_per_s": speed}


def _write_samples(path: Path, samples: Samples, kind: str) -> None:
    """Lines corpora: one sample a line, a tab, then its label ("emma\ttrain", "zaylen\tnew")."""
    texts = samples.texts
    if samples.labels is not None:
        texts = [f"{s}\t{x}" for s, x in zip(texts, samples.labels, strict=True)]
    sep = "\n" if kind == "lines" else "\n\n" + "-" * 40 + "\n"
    atomic_write_text(path, sep.join(texts) + "\n")
