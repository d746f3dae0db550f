"""One run of any rung from start to report: build it for the data, fit or train it, score val/test exactly,
sample, and write metrics.json (quality only: it is what DVC compares), units.npz (per-unit scores for the
paired bootstrap, inference/units.py), timing.json (wall clock, machine-local)
and samples.txt next to the checkpoints (for a lines corpus each sample labelled train/val/test/new, and the
counts with the novelty rate in metrics.json's `samples`). Stages call `run_rung` with plain objects."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Any

import numpy as np

from .. import fast
from ..data.prepared import Prepared
from ..inference.novelty import label_samples
from ..inference.sampling import sample_text
from ..inference.scoring import DEFAULT_EVAL_WINDOW, score_splits, score_splits_units
from ..inference.units import UNITS_FILE, save_units
from ..io import atomic_write_json, atomic_write_text, run_lock
from ..models import for_data
from ..models.base import LanguageModel
from ..parallel import ParallelError, World, rank_stream
from . import budget, health
from .checkpoints import load_training_checkpoint, save_training_checkpoint
from .live import EVAL_VAL, LiveLog
from .loop import LAST, Trainer
from .rngs import make_rngs
from .settings import OptimSettings, SampleSettings, TrainSettings
from .timing import TIMING

METRICS = "metrics.json"
HEALTH = "health.json"  # training/health.py: summarize


def _write_samples(path: Path, samples: list[str], kind: str, labels: list[str] | None = None) -> None:
    """Lines corpora: one sample a line, a tab, then its label ("emma\ttrain", "zaylen\tnew")."""
    if labels is not None:
        samples = [f"{s}\t{x}" for s, x in zip(samples, labels, strict=True)]
    sep = "\n" if kind == "lines" else "\n\n" + "-" * 40 + "\n"
    atomic_write_text(path, sep.join(samples) + "\n")


def run_rung(
    cls: type[LanguageModel],
    config: Any,
    data: Prepared,
    *,
    sample: SampleSettings,
    optim: OptimSettings | None = None,
    train: TrainSettings | None = None,
    seed: int,
    out_dir: str | Path,
    meta: dict[str, Any],
    resume: str | Path | None = None,
    log=print,
    world: World | None = None,
    reshard: bool = False,
    live: LiveLog | None = None,
) -> dict:
    """Build `cls` from `config` for `data` and fit it (count models) or train it (with `optim` and `train`);
    then score the final and best-val checkpoints exactly and sample from the final one. The whole run holds the
    lock of `out_dir` (io.lock): a second run into the same folder fails at once.

    `world` (parallel.py): train one model on MPI ranks; rank 0 holds the lock, writes, scores and
    samples, and the other ranks return {} once training ends. `reshard`: resume on another number of ranks.
    `live`: the run's DVCLive log (live.py), kept by rank 0."""
    world = world or World()
    fast.backend()  # a bad LMLADDER_KERNELS fails here, before any work
    fast.gemm()  # and a bad LMLADDER_GEMM, or MKL asked for and not installed
    if world.threads:
        fast.set_threads(world.threads)
    if not cls.trainable and world.size > 1:
        raise ParallelError(
            f"a {cls.rung} model is counted, not trained: there is nothing to share among {world.size} MPI ranks; "
            "run it without mpiexec"
        )
    with run_lock(out_dir) if world.lead else contextlib.nullcontext():
        return _run(cls, config, data, sample, optim, train, seed, out_dir, meta, resume, log, world, reshard, live)


def _run(cls, config, data, sample, optim, train, seed, out, meta, resume, log, world, reshard, live) -> dict:
    out = Path(out)
    rngs = make_rngs(seed)
    config = for_data(config, data)
    budget.check_weights(cls, config)
    model = cls(config, rng=rngs["model"])  # the same weights on every rank: they all draw from the seed's stream
    if world.rank:  # then each rank's own dropout masks
        rngs["model"].bit_generator.state = rank_stream(seed, world.rank).bit_generator.state
    if cls.trainable:
        if world.lead:
            log(f"{cls.rung}: {model.num_parameters():,} parameters")
        if optim is None or train is None:
            raise TypeError(f"run_rung: {cls.__name__} trains by gradient descent; pass optim and train")
        trainer = Trainer(
            model, data, optim=optim, settings=train, rngs=rngs, out_dir=out, meta=meta, log=log, world=world, live=live
        )
        budget.check_training(
            model,
            batch_size=train.batch_size,
            seq_len=model.block_size or train.block_size,
            last=train.targets == "last",
            eval_batch_size=train.eval_batch_size,
            eval_len=model.block_size or DEFAULT_EVAL_WINDOW,
            num_samples=sample.num_samples,
            sample_tokens=sample.sample_tokens,
        )
        res = trainer.run(resume=resume, reshard=reshard)
        if not world.lead:
            return {}
        step, seconds, tokens_per_s, batch = res.step, res.train_time_s, res.tokens_per_s, train.eval_batch_size
        if train.health_interval:
            atomic_write_json(out / HEALTH, health.summarize(out, optim.grad_clip))
    else:
        t0 = time.perf_counter()
        model.fit(np.asarray(data.splits["train"]))
        seconds, step, batch = time.perf_counter() - t0, 0, 32
        tokens_per_s = len(data.splits["train"]) / max(seconds, 1e-9)
        log(f"{cls.rung}: {model.num_parameters():,} parameters, counted in {seconds:.1f}s")  # they come from the data
        save_training_checkpoint(out / LAST, model, data.tokenizer, rngs=rngs, step=0, extra=meta)
    show = train.progress if cls.trainable else True  # a bar while a long split is scored (PROGRESS_FROM)
    scores, units = score_splits_units(model, data, batch, progress=show)
    metrics: dict[str, Any] = {
        "rung": cls.rung,
        "tokenizer": data.tokenizer.describe(),
        "seed": seed,
        "params": model.num_parameters(),
        "step": step,
        **scores,
    }
    if live and not cls.trainable:  # a counted model has no steps: its curve is one point, its exact val NLL
        live.open()
        live.log(0, {EVAL_VAL: metrics["val"]["nll"]})
        live.close()
    if cls.trainable and res.best_path is not None:
        best = load_training_checkpoint(res.best_path).model
        best_scores = score_splits(best, data, batch, progress=show)
        metrics["best"] = {"step": res.best_step, "val_estimate": res.best_val, **best_scores}
    n, tokens, temperature = sample.num_samples, sample.sample_tokens, sample.temperature
    samples = sample_text(model, data, rngs["sample"], num_samples=n, sample_tokens=tokens, temperature=temperature)
    labels = None
    if data.kind == "lines":
        labels, metrics["samples"] = label_samples(samples, data)
    _write_samples(out / "samples.txt", samples, data.kind, labels)
    save_units(out / UNITS_FILE, units)  # before metrics.json, whose presence marks a finished run
    atomic_write_json(out / METRICS, metrics)
    if not cls.trainable:  # the training loop keeps its own timing.json, across resumes (timing.py)
        atomic_write_json(out / TIMING, {"train_time_s": seconds, "tokens_per_s": tokens_per_s})
    return {**metrics, "train_time_s": seconds, "tokens_per_s": tokens_per_s}
