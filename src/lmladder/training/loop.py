"""The training loop for the neural rungs: AdamW + schedule + clipping + accumulation, nanoGPT-style evaluation,
TSV logs, best/final checkpoints and bitwise-exact resume."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .. import nn
from ..data.prepared import Prepared
from ..errors import LmladderError
from ..models import LanguageModel
from .batches import Batcher
from .checkpoints import load_training_checkpoint, restore_rngs, save_training_checkpoint
from .evaluate import estimate_loss
from .logs import TsvLog
from .progress import Progress
from .settings import OptimSettings, TrainSettings

RNG_NAMES = ("model", "batch", "eval", "sample")
LAST, BEST = "model.safetensors", "best.safetensors"


class TrainingError(LmladderError, RuntimeError):
    """Training cannot go on (non-finite loss, unusable resume); the message says where and what to do."""


def make_rngs(seed: int) -> dict[str, np.random.Generator]:
    """Independent generators for init+dropout, batches, evaluation batches and sampling, all from one seed."""
    children = np.random.SeedSequence(seed).spawn(len(RNG_NAMES))
    return {name: np.random.default_rng(s) for name, s in zip(RNG_NAMES, children, strict=True)}


def build_optimizer(model: LanguageModel, s: OptimSettings) -> nn.Optimizer:
    if s.name == "sgd":
        return nn.SGD(model.parameters(), lr=s.lr, momentum=s.momentum, weight_decay=s.weight_decay)
    groups = nn.decay_groups(model.named_parameters(), s.weight_decay)  # no decay on biases and norm gains
    cls = nn.AdamW if s.name == "adamw" else nn.Adam
    return cls(groups, lr=s.lr, betas=tuple(s.betas), eps=s.eps)


def build_schedule(s: OptimSettings, max_iters: int):
    total = s.decay_iters or max_iters
    if s.schedule == "constant":
        return nn.make_schedule("constant", lr=s.lr)
    if s.schedule == "step":
        return nn.make_schedule("step", lr=s.lr, step_size=s.step_size, gamma=s.gamma)
    return nn.make_schedule(s.schedule, lr=s.lr, total=total, min_lr=s.min_lr, warmup=s.warmup_iters)


@dataclass
class TrainResult:
    step: int
    best_val: float
    best_step: int
    train_time_s: float
    tokens_per_s: float
    last_path: Path
    best_path: Path | None


def _grad_stats(model: LanguageModel, step: int, lr: float) -> list[list[Any]]:
    rows = []
    for name, p in model.named_parameters():
        if p.grad is None:
            continue
        g, w = float(np.linalg.norm(p.grad)), float(np.linalg.norm(p.data))
        rows.append([step, name, g, w, lr * g / (w + 1e-12), float(np.abs(p.grad).max())])
    return rows


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
) -> TrainResult:
    """Train `model` (built with rngs['model']) on data.splits['train']; write checkpoints and logs to out_dir.

    `stop_at` ends the run early after that many steps with a resumable checkpoint, as an interruption would;
    the schedule still follows settings.max_iters, so resuming reproduces the uninterrupted run bit for bit.
    """
    optim.check()
    settings.check()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    seq_len = model.block_size or settings.block_size
    train_b = Batcher(data, "train", settings.batch_size, seq_len)
    val_b = Batcher(data, "val", settings.batch_size, seq_len)
    opt = build_optimizer(model, optim)
    schedule = build_schedule(optim, settings.max_iters)
    meta = dict(meta or {})
    start, best_val, best_step, nonfinite = 0, math.inf, -1, 0
    if resume is None and (out / LAST).exists():
        raise TrainingError(f"{out / LAST} already exists; pass resume=true to continue it, or use a new output dir")
    if resume is not None:
        ck = load_training_checkpoint(resume)
        if ck.model.config() != model.config() or ck.optim_state is None:
            raise TrainingError(
                f"cannot resume from {resume}: its model config {ck.model.config()} differs from "
                f"{model.config()} or it holds no optimizer state; resume with the same config"
            )
        model.load_state_dict(ck.model.state_dict())
        opt.load_state_dict(ck.optim_state)
        restore_rngs(rngs, ck.rng_states)
        start = ck.step
        best_val, best_step = ck.meta.get("best_val", math.inf), ck.meta.get("best_step", -1)
        nonfinite = ck.meta.get("nonfinite_skipped", 0)
        log(f"resumed from {resume} at step {start}")
    step_log = TsvLog(out / "train_log.tsv", ["step", "lr", "loss", "grad_norm", "tokens_per_s"], truncate_from=start)
    eval_log = TsvLog(out / "eval_log.tsv", ["step", "train_loss", "val_loss"], truncate_from=start)
    grad_log = TsvLog(
        out / "grad_stats.tsv",
        ["step", "param", "grad_norm", "weight_norm", "update_ratio", "grad_absmax"],
        truncate_from=start,
    )

    def checkpoint(path: Path, step: int) -> None:
        extra = {**meta, "best_val": best_val, "best_step": best_step, "nonfinite_skipped": nonfinite}
        save_training_checkpoint(path, model, data.tokenizer, optimizer=opt, rngs=rngs, step=step, extra=extra)

    def evaluate(step: int) -> None:
        nonlocal best_val, best_step
        tr = estimate_loss(model, (train_b.sample(rngs["eval"]) for _ in range(settings.eval_iters)))
        va = estimate_loss(model, (val_b.sample(rngs["eval"]) for _ in range(settings.eval_iters)))
        eval_log.write([step, tr, va])
        log(f"step {step}: train loss {tr:.4f}, val loss {va:.4f}")
        if va < best_val:
            best_val, best_step = va, step
            checkpoint(out / BEST, step)

    bar = Progress(settings.max_iters, start, enabled=settings.progress)
    train_time, tokens_seen = 0.0, 0
    params = model.parameters()
    end = settings.max_iters if stop_at is None else min(stop_at, settings.max_iters)
    for step in range(start, end):
        if step % settings.eval_interval == 0:
            evaluate(step)
        lr = schedule(step)
        opt.set_lr(lr)
        t0 = time.perf_counter()
        loss_sum, n_tok = 0.0, 0
        for _ in range(settings.grad_accum):
            x, y = train_b.sample(rngs["batch"])
            _, loss = model(x, y)
            loss.backward(np.asarray(1 / settings.grad_accum, dtype=loss.dtype))
            loss_sum += float(loss.data) / settings.grad_accum
            n_tok += int((y >= 0).sum())
        norm = nn.clip_grad_norm(params, optim.grad_clip)
        if not (math.isfinite(loss_sum) and math.isfinite(norm)):
            bad = _nonfinite_param(model) or "none' is non-finite: the loss alone"
            nonfinite += 1
            opt.zero_grad()
            if nonfinite > settings.max_nonfinite:
                raise TrainingError(
                    f"non-finite loss {loss_sum} / grad norm {norm} at step {step} (parameter '{bad}); last good "
                    f"checkpoint kept at {out / LAST}; lower the learning rate, enable grad_clip, or allow "
                    "skipping with train.max_nonfinite"
                )
            log(f"step {step}: skipped a non-finite update (parameter '{bad}), {nonfinite} so far")
            continue
        if step % settings.grad_stats_interval == 0:
            grad_log.write_many(_grad_stats(model, step, lr))
        opt.step()
        opt.zero_grad()
        dt = time.perf_counter() - t0
        train_time += dt
        tokens_seen += n_tok
        step_log.write([step, lr, loss_sum, norm, n_tok / dt])
        bar.update(step, loss=loss_sum, lr=lr, tok_s=f"{n_tok / dt:,.0f}")
        if (step + 1) % settings.checkpoint_interval == 0:
            checkpoint(out / LAST, step + 1)
    bar.close()
    if end < settings.max_iters:
        checkpoint(out / LAST, end)
    elif start < settings.max_iters or not (out / LAST).exists():
        evaluate(settings.max_iters)
        checkpoint(out / LAST, settings.max_iters)
    for f in (step_log, eval_log, grad_log):
        f.close()
    return TrainResult(
        step=end,
        best_val=best_val,
        best_step=best_step,
        train_time_s=train_time,
        tokens_per_s=tokens_seen / train_time if train_time else 0.0,
        last_path=out / LAST,
        best_path=(out / BEST) if (out / BEST).exists() else None,
    )
