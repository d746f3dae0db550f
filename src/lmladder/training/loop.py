"""The training loop for the neural rungs: AdamW + schedule + clipping + accumulation, nanoGPT-style evaluation,
TSV logs, best/final checkpoints and bitwise-exact resume."""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .. import nn
from ..data.prepared import Prepared
from ..io import WriteError, remove_stale_temps
from ..models.base import LanguageModel
from ..parallel import World, rank_state, running_stats, sum_grads, sum_scalars, sync_running_stats
from .batches import Batcher
from .checkpoints import save_training_checkpoint
from .evaluate import estimate_loss
from .health import Health, grad_stats
from .logs import Discard, TsvLog
from .progress import progress_bar
from .resume import TrainingError, restore
from .settings import OptimSettings, SettingsError, TrainSettings
from .timing import RunTiming

RNG_NAMES = ("model", "batch", "eval", "sample")
LAST, BEST = "model.safetensors", "best.safetensors"


def make_rngs(seed: int) -> dict[str, np.random.Generator]:
    """Independent generators for init+dropout, batches, evaluation batches and sampling, all from one seed."""
    children = np.random.SeedSequence(seed).spawn(len(RNG_NAMES))
    return {name: np.random.default_rng(s) for name, s in zip(RNG_NAMES, children, strict=True)}


def build_optimizer(model: LanguageModel, s: OptimSettings) -> nn.Optimizer:
    if s.name == "sgd":
        return nn.SGD(model.parameters(), lr=s.lr, momentum=s.momentum, weight_decay=s.weight_decay)
    betas = tuple(s.betas)
    if s.name == "muon":  # hidden matrices by Muon, the rest by AdamW
        groups = nn.muon_groups(model, s.weight_decay)
        hyper = {"muon_lr": s.muon_lr, "momentum": s.muon_momentum, "nesterov": s.nesterov, "ns_steps": s.ns_steps}
        return nn.Muon(groups, lr=s.lr, betas=betas, eps=s.eps, **hyper)
    groups = nn.decay_groups(model.named_parameters(), s.weight_decay)  # no decay on biases and norm gains
    cls = nn.AdamW if s.name == "adamw" else nn.Adam
    return cls(groups, lr=s.lr, betas=betas, eps=s.eps)


def build_schedule(s: OptimSettings, max_iters: int):
    total = s.decay_iters or max_iters
    if s.schedule == "constant":
        return nn.make_schedule("constant", lr=s.lr)
    if s.schedule == "step":
        return nn.make_schedule("step", lr=s.lr, step_size=s.step_size, gamma=s.gamma)
    extra = {"cooldown_frac": s.cooldown_frac} if s.schedule == "wsd" else {}
    return nn.make_schedule(s.schedule, lr=s.lr, total=total, min_lr=s.min_lr, warmup=s.warmup_iters, **extra)


@dataclass
class TrainResult:
    step: int
    best_val: float
    best_step: int
    train_time_s: float
    tokens_per_s: float
    best_path: Path | None


def _nonfinite_param(model: LanguageModel) -> str | None:
    """Name the culprit: a parameter whose weights are already non-finite, else the first non-finite gradient."""
    named = list(model.named_parameters())
    for name, p in named:
        if not np.isfinite(p.data).all():
            return f"{name}' weights are non-finite"
    for name, p in named:
        if p.grad is not None and not np.isfinite(p.grad).all():
            return f"{name}' gradient is non-finite"
    return None


def train(
    model: LanguageModel,
    data: Prepared,
    *,
    optim: OptimSettings,
    settings: TrainSettings,
    rngs: dict[str, np.random.Generator],
    out_dir: str | Path,
    meta: dict[str, Any] | None = None,
    resume: str | Path | None = None,
    stop_at: int | None = None,
    log=print,
    world: World | None = None,
    reshard: bool = False,
) -> TrainResult:
    """Train `model` (built with rngs['model']) on data.splits['train']; write checkpoints and logs to out_dir.

    `stop_at` ends the run early after that many steps with a resumable checkpoint, as an interruption would;
    the schedule still follows settings.max_iters, so resuming reproduces the uninterrupted run bit for bit.
    `world` (parallel.py): the MPI ranks this process trains with, each taking grad_accum micro-batches of every
    step's global batch; rank 0 alone writes. `reshard`: resume a checkpoint of another world size.
    """
    world = world or World()
    log = log if world.lead else (lambda *_: None)
    optim.check()
    settings.check()
    if settings.targets == "all" and any(isinstance(m, nn.BatchNorm1d) for m in model.modules()):
        # batch statistics over the positions of one sequence carry its later tokens into its earlier predictions
        raise SettingsError(
            "targets='all' with BatchNorm lets a row's later positions leak its targets through the batch "
            "statistics; set targets=last (one random target per row, Zero-to-Hero's batches)"
        )
    out = Path(out_dir)
    if world.lead:
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise WriteError(f"cannot create {out}: {e.strerror or e}; choose a writable output folder") from None
    seq_len = model.block_size or settings.block_size
    last = settings.targets == "last"
    train_b = Batcher(data, "train", settings.batch_size, seq_len, last)
    val_b = Batcher(data, "val", settings.batch_size, seq_len, last)
    opt = build_optimizer(model, optim)
    schedule = build_schedule(optim, settings.max_iters)
    meta = dict(meta or {})
    start, best_val, best_step, nonfinite = 0, math.inf, -1, 0
    if resume is None and (out / LAST).exists():
        raise TrainingError(f"{out / LAST} already exists; pass resume=true to continue it, or use a new output dir")
    # a run killed mid-write leaves its temporary behind; it is never read
    for name in remove_stale_temps(out) if world.lead else ():
        log(f"removed {out / name}, left by an interrupted write")
    if resume is not None:
        start, best_val, best_step, nonfinite = restore(
            Path(resume), model, opt, rngs, meta.get("seed"), world, reshard
        )
        if start > settings.max_iters:
            raise TrainingError(
                f"cannot resume from {resume}: it is at step {start}, past max_iters={settings.max_iters}; "
                "raise max_iters, or start a new run"
            )
        log(f"resumed from {resume} at step {start}")
    # A finished run (start == max_iters) keeps its final eval row: the final checkpoint was written after it.
    keep = start + 1 if start >= settings.max_iters else start
    # every logged value is a function of the seed (no wall-clock column), so a rerun writes the same bytes
    tsv = (lambda name, cols: TsvLog(out / name, cols, truncate_from=keep)) if world.lead else (lambda *_: Discard())
    step_log = tsv("train_log.tsv", ["step", "lr", "loss", "grad_norm"])
    eval_log = tsv("eval_log.tsv", ["step", "train_loss", "val_loss"])
    grad_log = tsv("grad_stats.tsv", ["step", "param", "grad_norm", "weight_norm", "update_ratio", "grad_absmax"])

    health = Health(model, out, keep) if settings.health_interval and world.lead else None
    logs = (step_log, eval_log, grad_log, *(health.logs.values() if health else ()))
    timing = RunTiming.resumed(out, start)

    def checkpoint(path: Path, step: int) -> None:
        ranks = rank_state(world, rngs)  # every rank calls this at the same steps: it gathers their dropout streams
        if not world.lead:
            return
        for f in logs:  # every row up to `step` is on disk before the checkpoint says so
            f.flush()
        extra = {**meta, "best_val": best_val, "best_step": best_step, "nonfinite_skipped": nonfinite, **ranks}
        save_training_checkpoint(path, model, data.tokenizer, optimizer=opt, rngs=rngs, step=step, extra=extra)
        if path == out / LAST:
            timing.save(step)

    def evaluate(step: int) -> None:
        nonlocal best_val, best_step
        tr = estimate_loss(model, [train_b.sample(rngs["eval"]) for _ in range(settings.eval_iters)], last, world)
        va = estimate_loss(model, [val_b.sample(rngs["eval"]) for _ in range(settings.eval_iters)], last, world)
        eval_log.write([step, tr, va])
        log(f"step {step}: train loss {tr:.4f}, val loss {va:.4f}")
        if va < best_val:
            best_val, best_step = va, step
            checkpoint(out / BEST, step)

    params = model.parameters()
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm1d)] if world.size > 1 else []
    end = settings.max_iters if stop_at is None else min(stop_at, settings.max_iters)
    # overflow/NaN are detected and reported per step below; NumPy's RuntimeWarnings would only add noise.
    # The `with` closes the bar even on an error, so its last line precedes the error message rather than follows it.
    with (
        np.errstate(over="ignore", invalid="ignore", divide="ignore"),
        progress_bar(settings.max_iters, start, enabled=settings.progress and world.lead) as bar,
    ):
        for step in range(start, end):
            if step % settings.eval_interval == 0:
                evaluate(step)
            lr = schedule(step)
            opt.set_lr(lr)
            t0 = time.perf_counter()
            loss_sum, n_tok = 0.0, 0
            watch = health is not None and step % settings.health_interval == 0
            with health.watch(step) if watch else contextlib.nullcontext():
                micro = settings.grad_accum * world.size  # micro-batches in the global batch
                before = running_stats(norms)
                for i in range(micro):
                    x, y = train_b.sample(rngs["batch"])  # every rank draws them all, to keep one batch stream
                    if i // settings.grad_accum != world.rank:
                        continue  # another rank's share
                    _, loss = model(x, y, last_only=last)
                    loss.backward(np.asarray(1 / micro, dtype=loss.dtype))
                    loss_sum += float(loss.data) / micro
                    n_tok += int((y >= 0).sum())
            sum_grads(params, world)
            sync_running_stats(world, norms, before, settings.grad_accum)
            loss_sum, n_tok = sum_scalars(world, loss_sum, n_tok)
            norm = nn.clip_grad_norm(params, optim.grad_clip)
            if not (math.isfinite(loss_sum) and math.isfinite(norm)):
                bad = _nonfinite_param(model) or "none' is non-finite: the loss alone"
                nonfinite += 1
                opt.zero_grad()
                if nonfinite > settings.max_nonfinite:
                    kept = (
                        f"last good checkpoint kept at {out / LAST}" if (out / LAST).exists() else "no checkpoint yet"
                    )
                    raise TrainingError(
                        f"non-finite loss {loss_sum} / grad norm {norm} at step {step} (parameter '{bad}); {kept}; "
                        f"lower lr={optim.lr}, enable grad_clip= or allow skipping with max_nonfinite="
                    )
                log(f"step {step}: skipped a non-finite update (parameter '{bad}), {nonfinite} so far")
                continue
            if step % settings.grad_stats_interval == 0:
                grad_log.write_many(grad_stats(model, step, lr))
            if watch:
                health.before_update()
            opt.step()
            if watch:
                health.after_update(step)
            opt.zero_grad()
            dt = time.perf_counter() - t0
            timing.add(dt, n_tok)
            step_log.write([step, lr, loss_sum, norm])
            bar.set_postfix(
                {"loss": f"{loss_sum:.4g}", "lr": f"{lr:.3g}", "tok/s": f"{n_tok / dt:,.0f}"}, refresh=False
            )
            bar.update(step + 1 - bar.n)  # to the absolute step, so skipped non-finite steps count too
            # not at max_iters: the final checkpoint comes after the final evaluation, so it alone marks "finished"
            if (step + 1) % settings.checkpoint_interval == 0 and step + 1 < settings.max_iters:
                checkpoint(out / LAST, step + 1)
    if end < settings.max_iters:
        checkpoint(out / LAST, end)
    elif start < settings.max_iters or not (out / LAST).exists():
        evaluate(settings.max_iters)
        checkpoint(out / LAST, settings.max_iters)
    for f in logs:
        f.close()
    return TrainResult(
        step=end,
        best_val=best_val,
        best_step=best_step,
        train_time_s=timing.train_time_s,
        tokens_per_s=timing.tokens_per_s,
        best_path=(out / BEST) if (out / BEST).exists() else None,
    )
