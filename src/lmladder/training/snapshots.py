"""Checkpoints' settings (train.checkpoint), and snapshots: a run's state kept at chosen steps
(train.checkpoint.snapshots), which another run can go on from as if it had trained those steps itself. A frontier
study's cool-down branches (lmladder.frontier.branches) each start from one snapshot of their stable run.

The snapshot at step N is up to three files beside the run's own, each the copy of one file of a run folder:
step<N>.best.safetensors (the best checkpoint so far), step<N>.timing.json (the training time of the N steps,
timing.py) and step<N>.safetensors (the resumable checkpoint at N). They are written in that order, the checkpoint
last: its presence marks a complete snapshot. Copied back under their own names into another run's folder, they
are what that run resumes from (resume=true): the same weights, optimizer moments, random streams, best-so-far and
training time as at step N here."""

from __future__ import annotations

import contextlib
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from ..io import atomic_path
from ..rules import SettingsError, check_fields, integer
from .timing import TIMING

LAST, BEST = "model.safetensors", "best.safetensors"  # a run folder's checkpoints: the last, the best so far


@dataclass
class CheckpointSettings:
    """When a run writes its resumable checkpoint (every `interval` steps, and at its end), and the steps at which a
    copy of its state is kept apart (`snapshots`; each in [1, max_iters), TrainSettings.check)."""

    interval: int = integer(500, low=1)
    snapshots: list[int] = field(default_factory=list)

    def check(self) -> None:
        check_fields(self, SettingsError)
        steps = self.snapshots
        whole = isinstance(steps, list | tuple) and all(isinstance(k, int) and not isinstance(k, bool) for k in steps)
        if not whole:
            raise SettingsError(f"snapshots={steps!r} must be a list of steps, e.g. [100, 300]")


def snapshot_files(folder: Path, step: int) -> dict[str, Path]:
    """{a run folder's file name: its copy in the snapshot at `step`}, in the order they are written (the
    checkpoint last)."""
    return {
        BEST: folder / f"step{step}.best.safetensors",
        TIMING: folder / f"step{step}.timing.json",
        LAST: folder / f"step{step}.safetensors",
    }


def copy_file(src: Path, dst: Path) -> None:
    """`src` to `dst` atomically. A checkpoint is hard-linked where the file system allows (no second copy on disk):
    every writer of a checkpoint replaces the file by a rename, never writes into it, so the two names never
    change each other."""
    with atomic_path(dst) as tmp:
        linked = False
        if src.suffix == ".safetensors":
            with contextlib.suppress(OSError):
                os.link(src, tmp)
                linked = True
        if not linked:
            shutil.copyfile(src, tmp)
