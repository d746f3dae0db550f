"""timing.json: a run's wall-clock training time and throughput, carried across resumes.

It is written beside every `model.safetensors` checkpoint with the step it reached, so a run resumed from its own
folder adds to the time of the steps before; a resume that finds no timing ending at its start step (resumed from
another folder's checkpoint, or killed between the two writes) times only its own steps and says so in
`timed_from_step`. Resuming a finished run trains nothing and keeps the file as it was. Wall clock is machine-local:
never a checkpoint's metadata (a resumed run writes byte-identical checkpoints) nor a DVC metric.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from ..io import atomic_write_json

TIMING = "timing.json"


@dataclass
class RunTiming:
    path: Path
    seconds: float = 0.0
    tokens: int = 0
    timed_from: int = 0  # the first step timed; > 0 when the steps before it are not in `seconds`

    @classmethod
    def resumed(cls, out: Path, start: int) -> RunTiming:
        """The timing so far of a run (re)starting at step `start` in folder `out`."""
        t = cls(out / TIMING)
        if start == 0:
            return t
        old = _read(t.path)
        if old.get("step") == start and _number(old.get("train_time_s")) and _number(old.get("tokens")):
            t.seconds, t.tokens = float(old["train_time_s"]), int(old["tokens"])
            t.timed_from = int(old.get("timed_from_step", 0))
        else:
            t.timed_from = start
        return t

    def add(self, seconds: float, tokens: int) -> None:
        self.seconds += seconds
        self.tokens += tokens

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.seconds if self.seconds > 0 else math.nan

    @property
    def train_time_s(self) -> float:
        """The whole run's training time, or NaN when some of its steps were never timed."""
        return self.seconds if self.timed_from == 0 else math.nan

    def save(self, step: int, path: Path | None = None) -> None:
        """The timing up to `step` into the run's timing.json, or into `path` (a snapshot's, snapshots.py)."""
        record = {"step": step, "train_time_s": self.seconds, "tokens": self.tokens, "tokens_per_s": self.tokens_per_s}
        record |= {"timed_from_step": self.timed_from} if self.timed_from else {}
        atomic_write_json(path or self.path, record)


def _read(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _number(v) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) and v >= 0
