"""The trainer of the neural rungs: AdamW + schedule + clipping + accumulation, nanoGPT-style evaluation, TSV
logs, best/final checkpoints, weight averaging (average.py) and bitwise-exact resume."""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .. import fast, interrupt, nn
from ..checkpoints import save_training_checkpoint
from ..data.prepared import Prepared
from ..io import WriteError, remove_stale_temps
from ..models.base import LanguageModel
from ..parallel import rank_state, running_stats, sum_grads, sum_scalars, sync_running_stats
from ..progress import progress_bar
from .average import WeightAverage
from .batches import Batcher, EpochBatches, estimate_loss
from .health import Health, grad_stats
from .live import EVAL_RAW_VAL, EVAL_TRAIN, EVAL_VAL, LR, TRAIN_LOSS
from .logs import Discard, TsvLog
from .noise import InputNoise
from .nonfinite import NonfiniteSteps
from .resume import RunExistsError, TrainingError, restore
from .rngs import Rngs
from .settings import Run, check_model, seq_len_key
from .snapshots import BEST, LAST, TIMING, copy_file, snapshot_files
from .teacher import NgramTeacher
from .timing import RunTiming


@dataclass
class TrainResult:
    step: int
    best_val: float
    best_step: int
    train_time_s: float
    tokens_per_s: float
    best_path: Path | None


class Trainer:
    """Trains `model` (built with rngs['model']) on the train split of `run` (settings.Run: its data, optim and
    train settings, folder, checkpoint metadata, MPI world, log and live log) and writes checkpoints and logs to
    its folder. The settings are checked here, before any work. Under MPI each rank takes grad_accum micro-batches
    of every step's global batch; rank 0 alone writes, and logs to the live log.

    With weight averaging on (train.average), the average is what is evaluated, chosen as best, saved as
    the checkpoints' model and left in the model when run() returns; the trained weights are a checkpoint's
    `trained.` arrays, and eval_log.tsv's raw_val_loss is their val estimate on the same batches.
    """

    def __init__(self, model: LanguageModel, run: Run, rngs: Rngs):
        optim, settings = run.optim, run.train
        optim.check()
        settings.check()
        check_model(model, optim, settings)
        self.model, self.spec, self.data, self.optim, self.s, self.rngs = model, run, run.data, optim, settings, rngs
        self.world = run.world
        self.log = run.log if self.world.lead else (lambda *_: None)
        self.live = run.live if self.world.lead else None
        self.out = run.out_dir
        self.seq_len = model.window(settings.seq_len)
        self.last = settings.targets == "last"
        rows = (settings.batch_size, self.seq_len, self.last, seq_len_key(model))
        self.train_b, self.val_b = Batcher(run.data, "train", *rows), Batcher(run.data, "val", *rows)
        self.epochs = EpochBatches(self.train_b, rngs.seed) if settings.sampling == "epochs" else None
        self.noise = None
        if settings.input_noise:
            args = (run.data.vocab_size, settings.input_noise, rngs.seed, run.data.boundary_id)
            self.noise = InputNoise(self.train_b.tokens, *args)
        self.teacher = None
        if settings.teacher.order:
            self.teacher = NgramTeacher(self.train_b.tokens, run.data.vocab_size, settings.teacher)
            self.log(self.teacher.describe())
        self.opt = optim.build(model)
        self.schedule = optim.schedule.build(optim.lr, settings.max_iters)
        self.params = model.parameters()
        self.average = WeightAverage(model, settings.average)
        # BatchNorm's running statistics, kept equal on every MPI rank
        self.norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm1d)] if self.world.size > 1 else []
        self.best_val, self.best_step = math.inf, -1
        self.skipped = NonfiniteSteps(model, optim, settings.max_nonfinite, self.out / LAST, self.log)

    def run(self, stop_at: int | None = None) -> TrainResult:
        """Train from step 0, or from the run's checkpoint `resume` (`reshard`: one of another world size), to
        max_iters. On return the model holds the weights its checkpoint holds: the average when one runs.

        `stop_at` ends the run early after that many steps with a resumable checkpoint, as an interruption would;
        the schedule still follows max_iters, so resuming reproduces the uninterrupted run bit for bit.
        """
        s, out = self.s, self.out
        start = self._start(self.spec.resume, self.spec.reshard)
        self._open_logs(start)
        self.log(fast.describe())
        end = s.max_iters if stop_at is None else min(stop_at, s.max_iters)
        # overflow/NaN are detected and reported per step (nonfinite.py); NumPy's RuntimeWarnings would only add noise.
        # The `with` closes the bar even on an error, so its last line precedes the error message rather than follows.
        with (
            np.errstate(over="ignore", invalid="ignore", divide="ignore"),
            progress_bar(s.max_iters, start, enabled=s.progress and self.world.lead) as bar,
        ):
            for step in range(start, end):
                interrupt.check()  # a Ctrl-C that Python swallowed in a finaliser stops the run here
                if step % s.eval.interval == 0:
                    self.evaluate(step)
                stepped = self.step(step, bar)
                if step + 1 in s.checkpoint.snapshots:
                    self.snapshot(step + 1)
                if not stepped:
                    continue
                # not at max_iters: the final checkpoint comes after the final evaluation, so it alone marks "finished"
                if (step + 1) % s.checkpoint.interval == 0 and step + 1 < s.max_iters:
                    self.checkpoint(out / LAST, step + 1)
        if end < s.max_iters:
            self.checkpoint(out / LAST, end)
        elif start < s.max_iters or not (out / LAST).exists():
            self.evaluate(s.max_iters)
            self.checkpoint(out / LAST, s.max_iters)
        for f in self.logs:
            f.close()
        self.average.apply()
        return TrainResult(
            step=end,
            best_val=self.best_val,
            best_step=self.best_step,
            train_time_s=self.timing.train_time_s,
            tokens_per_s=self.timing.tokens_per_s,
            best_path=(out / BEST) if (out / BEST).exists() else None,
        )

    def _start(self, resume: str | Path | None, reshard: bool) -> int:
        """The output folder made and cleared of an interrupted write's temporaries, and `resume` loaded into the
        model, optimizer and generators: the step to start from."""
        out, max_iters = self.out, self.s.max_iters
        if self.world.lead:
            try:
                out.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise WriteError(f"cannot create {out}: {e.strerror or e}; choose a writable output folder") from None
        if resume is None and (out / LAST).exists():
            raise RunExistsError(
                f"{out / LAST} already exists; pass resume=true to continue it, or use a new output dir"
            )
        # a run killed mid-write leaves its temporary behind; it is never read
        for name in remove_stale_temps(out) if self.world.lead else ():
            self.log(f"removed {out / name}, left by an interrupted write")
        if resume is None:
            return 0
        state = restore(Path(resume), self.model, self.opt, self.rngs, self.world, reshard, self.average)
        start, self.best_val, self.best_step, self.skipped.count = state
        if start > max_iters:
            raise TrainingError(
                f"cannot resume from {resume}: it is at step {start}, past max_iters={max_iters}; "
                "raise max_iters, or start a new run"
            )
        self.log(f"resumed from {resume} at step {start}")
        return start

    def _open_logs(self, start: int) -> None:
        """train_log, eval_log and grad_stats (and health's, health.py) on rank 0, kept up to `start`."""
        out, lead = self.out, self.world.lead
        # A finished run (start == max_iters) keeps its final eval row: the final checkpoint was written after it.
        keep = start + 1 if start >= self.s.max_iters else start
        # every logged value is a function of the seed (no wall-clock column), so a rerun writes the same bytes
        tsv = (lambda name, cols: TsvLog(out / name, cols, truncate_from=keep)) if lead else (lambda *_: Discard())
        self.step_log = tsv("train_log.tsv", ["step", "lr", "loss", "grad_norm"])
        raw = ["raw_val_loss"] if self.average.on else []  # the trained weights' own estimate, beside the average's
        self.eval_log = tsv("eval_log.tsv", ["step", "train_loss", "val_loss", *raw])
        self.grad_log = tsv(
            "grad_stats.tsv", ["step", "param", "grad_norm", "weight_norm", "update_ratio", "grad_absmax"]
        )
        self.health = Health(self.model, out, keep) if self.s.health_interval and lead else None
        health = self.health.logs.values() if self.health else ()
        # every log the run writes: flushed before each checkpoint, closed at the end
        self.logs = (self.step_log, self.eval_log, self.grad_log, *health, *([self.live] if self.live else ()))
        self.timing = RunTiming.resumed(out, start)
        if self.live and (rebuilt := self.live.open(keep, out)):
            self.log(f"live log: {', '.join(rebuilt)} rebuilt from train_log.tsv and eval_log.tsv (it was deleted)")

    def step(self, step: int, bar) -> bool:
        """One optimizer step (lr from the schedule, the global batch's gradient, clipping, the update), logged and
        shown on `bar`; False when a non-finite loss or gradient skipped it (nonfinite.py)."""
        lr = self.schedule(step)
        self.opt.set_lr(lr)
        t0 = time.perf_counter()
        watch = self.health is not None and step % self.s.health_interval == 0
        loss, n_tok = self._gradients(step, watch)
        norm = nn.clip_grad_norm(self.params, self.optim.grad_clip)
        if not (math.isfinite(loss) and math.isfinite(norm)):
            self.skipped.skip(step, loss, norm)  # the update dropped, or the run stopped
            self.opt.zero_grad()
            return False
        if step % self.s.grad_stats_interval == 0:
            self.grad_log.write_many(grad_stats(self.model, step, lr))
        if watch:
            self.health.before_update()
        self.opt.step()
        if watch:
            self.health.after_update(step)
        self.average.after_step(step)
        self.opt.zero_grad()
        dt = time.perf_counter() - t0
        self.timing.add(dt, n_tok)
        for line in fast.share_news():  # the thread count changed: other processes took cores, or gave them back
            self.log(line)
        self.step_log.write([step, lr, loss, norm])
        if self.live:
            self.live.log(step, {TRAIN_LOSS: loss, LR: lr})
            self.live.next_step()
        bar.set_postfix({"loss": f"{loss:.4g}", "lr": f"{lr:.3g}", "tok/s": f"{n_tok / dt:,.0f}"}, refresh=False)
        bar.update(step + 1 - bar.n)  # to the absolute step, so skipped non-finite steps count too
        return True

    def _gradients(self, step: int, watch: bool) -> tuple[float, int]:
        """The gradient of the step's global batch, summed over micro-batches and MPI ranks: (mean loss, tokens)."""
        s, world = self.s, self.world
        loss_sum, n_tok = 0.0, 0
        with self.health.watch(step) if watch else contextlib.nullcontext():
            micro = s.grad_accum * world.size  # micro-batches in the global batch
            before = running_stats(self.norms)
            for i in range(micro):
                x, y = self._batch(step * micro + i)  # every rank draws them all, to keep one batch stream
                if i // s.grad_accum != world.rank:
                    continue  # another rank's share
                logits, loss = self.model(x, y, last_only=self.last)
                loss_sum += float(loss.data) / micro  # the network's own loss, with a teacher or without
                if self.teacher is not None:
                    loss = self.teacher.loss(logits, x, y, loss)
                loss.backward(np.asarray(1 / micro, dtype=loss.dtype))
                n_tok += int((y >= 0).sum())
        sum_grads(self.params, world)
        sync_running_stats(world, self.norms, before, s.grad_accum)
        return sum_scalars(world, loss_sum, n_tok)

    def _batch(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """The run's index-th training batch (micro-batches count one each)."""
        x, y = self.train_b.sample(self.rngs["batch"]) if self.epochs is None else self.epochs.batch(index)
        return (x, y) if self.noise is None else (self.noise(x, index), y)

    def evaluate(self, step: int) -> None:
        """nanoGPT's estimate of the train and val loss (eval.iters batches each) of the weights scored (the average
        when one runs; the trained weights' val estimate beside it), logged; a new best val loss writes
        best.safetensors."""
        n, rng = self.s.eval.iters, self.rngs["eval"]
        train_batches = [self.train_b.sample(rng) for _ in range(n)]
        val_batches = [self.val_b.sample(rng) for _ in range(n)]
        loss = lambda batches: estimate_loss(self.model, batches, self.last, self.world)  # noqa: E731
        with self.average.scored():
            tr, va = loss(train_batches), loss(val_batches)
        values, said = {EVAL_TRAIN: tr, EVAL_VAL: va}, ""
        if self.average.on:  # before the average starts, the weights scored are the trained ones
            values[EVAL_RAW_VAL] = raw = loss(val_batches) if self.average.count else va
            said = f" (the trained weights': {raw:.4f})" if self.average.count else ""
        self.eval_log.write([step, *values.values()])
        if self.live:  # an evaluation's rows reach the live log at once, the steps' before them
            self.live.log(step, values)
            self.live.flush()
        self.log(f"step {step}: train loss {tr:.4f}, val loss {va:.4f}{said}")
        if va < self.best_val:
            self.best_val, self.best_step = va, step
            self.checkpoint(self.out / BEST, step)

    def snapshot(self, step: int) -> None:
        """The run's state at `step` kept apart (snapshots.py): the best checkpoint so far and the timing, then the
        checkpoint, which marks it complete."""
        files = snapshot_files(self.out, step)
        if self.world.lead:
            if (self.out / BEST).exists():
                copy_file(self.out / BEST, files[BEST])
            self.timing.save(step, files[TIMING])
        self.checkpoint(files[LAST], step)

    def checkpoint(self, path: Path, step: int) -> None:
        """Weights, optimizer moments, generators and the run's state at `step`, after every log row up to it."""
        ranks = rank_state(self.world, self.rngs)  # every rank calls this at the same steps: it gathers their dropout
        if not self.world.lead:
            return
        for f in self.logs:
            f.flush()
        state = {"best_val": self.best_val, "best_step": self.best_step, "nonfinite_skipped": self.skipped.count}
        extra = {**self.spec.checkpoint_meta, **state, **ranks, **self.average.meta()}
        mine = dict(optimizer=self.opt, rngs=self.rngs, step=step, extra=extra, average=self.average.by_name())
        save_training_checkpoint(path, self.model, self.data.tokenizer, **mine)
        if path == self.out / LAST:
            self.timing.save(step)


def train(model: LanguageModel, data: Prepared, *, rngs: Rngs, stop_at: int | None = None, **run: Any) -> TrainResult:
    """Train `model` on `data` as the trainer of a Run of it: `run` gives the Run's other fields (optim, train,
    out_dir, and as needed meta, resume, reshard, world, live, log); its seed is the one `rngs` come from."""
    spec = Run(cls=type(model), config=model.config, data=data, seed=rngs.seed, **run)
    return Trainer(model, spec, rngs).run(stop_at=stop_at)
