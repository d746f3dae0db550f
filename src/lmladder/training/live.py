"""The run's live log through DVCLive, in DVCLive's own layout, so `dvc exp show`, `dvc plots` and the VS Code
extension see a run while it trains: <dir>/metrics.json (the latest value of each metric, and the step),
<dir>/plots/metrics/<name>.tsv (a row per logged step) and <dir>/params.yaml (the run's settings)."""

from __future__ import annotations

import contextlib
import csv
import functools
import math
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from ..io import WriteError, atomic_write_text, remove_stale_temps, write_error
from .logs import trim_tsv

if TYPE_CHECKING:
    from dvclive import Live

SYNC_S = 0.5  # the least time between two rewrites of metrics.json (next_step)
# step rows and evaluation rows; DVCLive nests the summary by the part before the slash (train.loss in dvc exp show)
TRAIN_LOSS, LR, EVAL_TRAIN, EVAL_VAL = "train/loss", "train/lr", "eval/train_loss", "eval/val_loss"
EVAL_RAW_VAL = "eval/raw_val_loss"  # with weight averaging: the trained weights' val estimate (the average's: EVAL_VAL)


class LiveLog:
    """DVCLive's `Live` at `dir`, logging `params` once. It never saves a DVC experiment nor writes a dvc.yaml: a
    plain run or a sweep job logs into its own folder and nothing more; under `dvc repro`/`dvc exp run` DVCLive
    finds the pipeline by itself (DVC_ROOT) and the stage's dvc.yaml entries declare the log."""

    def __init__(self, dir: str | Path, params: dict):  # noqa: A002 - DVCLive's own name for it
        self.dir, self.params = Path(dir), params
        self.live: Live | None = None
        self.last = 0  # the last step logged
        self.pending: dict[str, list[tuple[int, float]]] = {}  # rows logged, not yet in their files (flush)
        self._synced, self._took = -math.inf, 0.0  # when next_step last ran, and how long it took

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """DVCLive's own writes under the project's error policy: one line naming the file (a file called dvclive
        in the way, a log made immutable mid-run), as every other file of a run gets."""
        try:
            yield
        except WriteError:
            raise
        except OSError as e:
            raise write_error(Path(e.filename) if e.filename else self.dir, e) from e

    def open(self, keep_below: int = 0, logs: Path | None = None) -> list[str]:
        """A new log (keep_below=0: DVCLive clears an earlier one), or an earlier one kept for steps < keep_below and
        continued (resume: a killed run may have logged past its last checkpoint; those rows are dropped); a metric
        whose rows were deleted is rebuilt from the run's own logs in the folder `logs` (train_log.tsv,
        eval_log.tsv, already trimmed to keep_below). Returns the metrics rebuilt."""
        with self._writing():
            return self._open(keep_below, logs)

    def _open(self, keep_below: int, logs: Path | None) -> list[str]:
        metrics = self.dir / "plots" / "metrics"
        last, rebuilt = {}, []
        if keep_below > 0 and logs is not None:
            rebuilt = rebuild(metrics, logs)
        if keep_below > 0:
            for folder in (metrics, *metrics.rglob("*")):  # a kill while trimming leaves a temporary behind
                remove_stale_temps(folder)
            for tsv in sorted(metrics.rglob("*.tsv")):
                if kept := trim_tsv(tsv, keep_below):
                    last[tsv.relative_to(metrics).with_suffix("").as_posix()] = kept[-1].split("\t")
            # DVCLive writes these two in place: a kill mid-write leaves them unreadable, and they are rebuilt here
            for name in ("metrics.json", "params.yaml"):
                (self.dir / name).unlink(missing_ok=True)
        self.live = _live_class()(str(self.dir), resume=keep_below > 0, save_dvc_exp=False, dvcyaml=None)
        for name, (step, value) in last.items():  # the summary of the kept rows, as an unbroken run had it
            self.live.step = int(step)
            self.live.log_metric(name, float(value), plot=False)
        self.last = max((int(step) for step, _ in last.values()), default=0)
        self.live.log_params(self.params)
        return rebuilt

    def log(self, step: int, values: dict[str, float]) -> None:
        """The step's rows, kept until the next flush: DVCLive's log_metric opens and appends to its file per row,
        about a tenth of a small model's step."""
        self.last = step
        for name, v in values.items():
            self.pending.setdefault(name, []).append((step, float(v)))

    def flush(self) -> None:
        """Every row kept since the last flush into its metric's file, as DVCLive's log_metric writes it (the
        trainer flushes before each checkpoint, so a resumed run finds every row before its step), and each
        metric's last value into the summary."""
        with self._writing():
            for name, rows in self.pending.items():
                _append_rows(Path(self.live.plots_dir) / "metrics" / f"{name}.tsv", rows)
                self.live.step, last = rows[-1]
                self.live.log_metric(name, last, plot=False)
        self.pending = {}
        self.live.step = self.last

    def next_step(self) -> None:
        """The step's rows are complete: DVCLive's next_step() writes metrics.json (the values and step that `dvc exp
        show` reads) and signals the VS Code extension. With DVC Studio configured it also rereads every row logged
        so far (to post them), so it runs at most every SYNC_S seconds and in at most a tenth of the time: a long
        run's log stays linear. The rows logged since the last one are written first; close() writes the rest
        and the final metrics.json."""
        now = time.monotonic()
        if now - self._synced < max(SYNC_S, 10 * self._took):
            return
        self.flush()
        with self._writing():
            self.live.next_step()
        self._synced = time.monotonic()
        self._took = self._synced - now

    def close(self) -> None:
        self.flush()
        # end() would report the last step given to next_step(), not the final evaluation's (one step later)
        self.live.step = self.live.summary["step"] = self.last
        with self._writing():
            self.live.end()


@functools.cache
def _live_class() -> type[Live]:
    """DVCLive's Live, save that next_step() collects DVC Studio's data only when DVC Studio is configured: DVCLive
    rereads params.yaml and every row logged so far for it at every next_step() and then drops it unsent (dvclive
    3.49: Live.post_data_to_studio), about a tenth of a small model's training time at LiveLog's sync rate."""
    from dvclive import Live  # imports DVC (a second): only runs that log pay for it
    from dvclive.studio import get_dvc_studio_config

    class StudioAware(Live):
        def post_data_to_studio(self) -> None:
            if not hasattr(self, "_lmladder_studio"):  # DVCLive's own condition for posting any event
                self._lmladder_studio = bool(get_dvc_studio_config(self))
            if self._lmladder_studio:
                super().post_data_to_studio()

    return StudioAware


def _append_rows(tsv: Path, rows: list[tuple[int, float]]) -> None:
    """`step<TAB>leaf name` rows appended to a DVCLive metric file, byte for byte as its Metric.dump writes them
    (csv's tab dialect, the OS's line end, a non-finite value as its str)."""
    tsv.parent.mkdir(parents=True, exist_ok=True)
    existed, leaf = tsv.exists(), tsv.stem
    with open(tsv, "a", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, delimiter="\t", lineterminator=os.linesep)
        if not existed:
            writer.writerow(["step", leaf])
        writer.writerows((step, v if math.isfinite(v) else str(v)) for step, v in rows)


# the live metrics the run's own logs also hold: (file, column); DVCLive's tsv is `step<TAB>leaf name`
FROM_LOGS = {
    TRAIN_LOSS: ("train_log.tsv", "loss"),
    LR: ("train_log.tsv", "lr"),
    EVAL_TRAIN: ("eval_log.tsv", "train_loss"),
    EVAL_VAL: ("eval_log.tsv", "val_loss"),
    EVAL_RAW_VAL: ("eval_log.tsv", "raw_val_loss"),
}


def rebuild(metrics: Path, logs: Path) -> list[str]:
    """Write each FROM_LOGS metric missing under `metrics` (a deleted live log) from its column of the run's log,
    where that has rows; returns the names written. The run's logs keep 6 significant digits, DVCLive's all of a
    float's: the rebuilt rows are that close to the lost ones."""
    made = []
    for name, (file, column) in FROM_LOGS.items():
        tsv, src = metrics / f"{name}.tsv", logs / file
        if tsv.exists() or not src.is_file():
            continue
        header, *rows = [r.split("\t") for r in src.read_text(encoding="utf-8").splitlines() if r]
        if column not in header or not rows:
            continue
        at, leaf = header.index(column), name.rsplit("/", 1)[-1]
        body = "".join(f"{r[0]}\t{r[at]}\n" for r in rows if len(r) == len(header))
        atomic_write_text(tsv, f"step\t{leaf}\n{body}")
        made.append(name)
    return made
