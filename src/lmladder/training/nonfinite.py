"""Steps whose loss or gradient is not finite (an overflow, a NaN): each one's update is dropped and the run goes
on, up to train.max_nonfinite of them in a run; the next one stops it, naming the parameter where it showed and
the learning rates to lower. The count is kept in the run's checkpoints, so a resumed run goes on counting."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..models.base import LanguageModel
from .resume import TrainingError


class NonfiniteSteps:
    """The non-finite steps of one run: `count` so far (a checkpoint's nonfinite_skipped), `limit` allowed."""

    def __init__(self, model: LanguageModel, optim, limit: int, last: Path, log: Callable[[str], None]):
        self.model, self.optim, self.limit, self.last, self.log = model, optim, limit, last, log
        self.count = 0

    def skip(self, step: int, loss: float, norm: float) -> None:
        """Count the step, whose update the caller drops, and say so; past the limit, stop the run. Call it before
        the gradients are cleared: they name the parameter."""
        bad = culprit(self.model) or "none' is non-finite: the loss alone"
        self.count += 1
        if self.count > self.limit:
            kept = f"last good checkpoint kept at {self.last}" if self.last.exists() else "no checkpoint yet"
            raise TrainingError(
                f"non-finite loss {loss} / grad norm {norm} at step {step} (parameter '{bad}); {kept}; "
                f"lower {rates(self.optim)}, enable grad_clip= or allow skipping with max_nonfinite="
            )
        self.log(f"step {step}: skipped a non-finite update (parameter '{bad}), {self.count} so far")


def culprit(model: LanguageModel) -> str | None:
    """Name the culprit: a parameter whose weights are already non-finite, else the first non-finite gradient."""
    named = list(model.named_parameters())
    for name, p in named:
        if not np.isfinite(p.data).all():
            return f"{name}' weights are non-finite"
    for name, p in named:
        if p.grad is not None and not np.isfinite(p.grad).all():
            return f"{name}' gradient is non-finite"
    return None


def rates(optim) -> str:
    """The learning rates that drive the update: Muon's hidden matrices have their own (muon.lr), AdamW the rest."""
    if optim.name == "muon":
        return f"muon.lr={optim.muon.lr} (Muon's, the hidden matrices) or lr={optim.lr} (AdamW's, the rest)"
    return f"lr={optim.lr}"
