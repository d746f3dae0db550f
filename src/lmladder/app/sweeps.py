"""Glue for sweeps (-m): before Hydra, a search space Optuna would refuse; after it, the sweep's summary line and
exit status from its jobs (SweepOutcome, a Hydra callback conf/config.yaml names: lmladder.app.sweeps.SweepOutcome).
Jobs that a launcher starts in new interpreters (submitit) import the stage's glue from the installed package."""

from __future__ import annotations

import json
import logging
import sys
import time
import typing
from dataclasses import is_dataclass
from pathlib import Path

from hydra.experimental.callback import Callback
from omegaconf import OmegaConf

from ..config import ConfigError, RunConfig
from ..rules import Rule
from .policy import REFUSED, STATUS
from .startup import refuse, rung_name

# numbers hydra-optuna-sweeper takes unchecked: 0 trials ends in Optuna's "No trials are completed yet" traceback,
# 0 trials per batch in a division by zero, a negative failure rate in an AssertionError after the first batch
SWEEPER_RULES = {
    "hydra.sweeper.n_trials": Rule("integer", low=1, note="how many trials the search runs"),
    "hydra.sweeper.n_jobs": Rule("integer", low=1, note="trials per batch"),
    "hydra.sweeper.max_failure_rate": Rule("number", low=0, high=1, note="the share of a batch allowed to fail"),
}


def check_search_space(name: str, argv: list[str] | None = None) -> None:
    """hydra-optuna-sweeper shows a search dimension Optuna refuses (interval(1e-1, 1e-3), a log interval from 0) or
    a number out of range (SWEEPER_RULES) as a traceback from inside the plugin; one given on the command line is
    refused here first, in one line (the presets' own dimensions are tested). Hydra reports overrides it cannot
    parse itself, clearly."""
    args = sys.argv[1:] if argv is None else argv
    sweeper = next((a for a in args if a.startswith("hydra/sweeper=optuna")), None)
    if not sweeper:
        return
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    try:
        from hydra_plugins.hydra_optuna_sweeper._impl import create_params_from_overrides
        from optuna.distributions import DiscreteUniformDistribution, LogUniformDistribution, UniformDistribution
    except ModuleNotFoundError as e:
        refuse(rung_name(name, args), ConfigError(f"{sweeper}: {e}; pip install -e '.[optuna]'"))
    parser = OverridesParser.create()
    for a in (a for a in args if not a.startswith("-")):
        try:
            o = parser.parse_override(a)
            if (rule := SWEEPER_RULES.get(o.key_or_group)) and not rule.holds(o.value()):
                refuse(rung_name(name, args), ConfigError(f"{o.key_or_group}={a.split('=', 1)[1]} {rule.wanted()}"))
            if a.startswith("hydra"):
                continue
            space, _ = create_params_from_overrides([a])  # what the sweeper makes of it, one override at a time
        except HydraException:
            continue
        except ValueError as e:
            refuse(rung_name(name, args), ConfigError(f"{a}: {str(e).rstrip('.')}; fix that search dimension"))
        for key, dist in space.items():
            # Hydra's interval(8, 64) is a float range, whatever its bounds: every trial would fail validation
            floats = (UniformDistribution, LogUniformDistribution, DiscreteUniformDistribution)
            if isinstance(dist, floats) and integer_key(key):
                value = a.split("=", 1)[1]
                error = ConfigError(
                    f"{a}: this search dimension samples floats, and {key} takes an integer; write "
                    f"{key}='int({value})' (an integer range, both ends included), or list values with choice()"
                )
                refuse(rung_name(name, args), error)


def integer_key(key: str) -> bool:
    """Whether the config key (mlp.model.n_hidden, seed) is an integer field of its rung's settings or of RunConfig."""
    # imported here: Hydra imports this module for SweepOutcome in every stage, which must not load the trainer
    from ..models import rung_class, rungs
    from ..training.settings import rung_schema

    first, *rest = key.lstrip("+~").split(".")
    node, names = (rung_schema(rung_class(first)), rest) if first in rungs() else (RunConfig, [first, *rest])
    for name in names:
        hints = typing.get_type_hints(node) if is_dataclass(node) else {}
        if name not in hints:
            return False
        node = hints[name]
    return node is int or (int in typing.get_args(node) and float not in typing.get_args(node))


class SweepOutcome(Callback):
    """A sweep's summary line and exit status, from its jobs' status.json (conf/config.yaml registers it as a Hydra
    callback, so it runs in the process that drives the sweep, whatever the launcher). Every job failed: one error
    line and exit 2, as one such run alone exits; some failed: one line on stderr and exit 0 (the others' results
    are the sweep's; `lmladder report --strict` exits 1 on any failure). An Optuna search whose every trial failed
    reports no best trial: its +inf would otherwise be logged, and kept in optimization_results.yaml, as the best."""

    LOGGER = "hydra_plugins.hydra_optuna_sweeper._impl"  # where hydra-optuna-sweeper 1.3 logs "Best value: ..."

    def on_multirun_start(self, config, **kwargs) -> None:
        self.sweep, self.started = Path(str(config.hydra.sweep.dir)), time.time()
        logging.getLogger(self.LOGGER).addFilter(self._no_best_without_a_finished_job)

    def on_multirun_end(self, config, **kwargs) -> None:
        logging.getLogger(self.LOGGER).removeFilter(self._no_best_without_a_finished_job)
        states = self._states()
        failed, refused, total = states.count("failed"), states.count("refused"), len(states)
        name = rung_name(config.hydra.job.name, sys.argv[1:])
        if name == config.hydra.job.name:  # a search preset sets the rung among its params
            name = str(OmegaConf.select(config, "hydra.sweeper.params.rung", default=None) or name)
        report = f"`lmladder report {self.sweep}` lists"
        if total and refused == total:
            print(
                f"lmladder {name}: error: all {total} jobs of the sweep found their folders holding another run, "
                f"and left them as they were ({report} those runs); give a new hydra.sweep.dir, or resume=true to "
                "continue them",
                file=sys.stderr,
                flush=True,
            )
            sys.exit(2)
        failed += refused
        if total and failed == total:
            results = self.sweep / "optimization_results.yaml"
            best = ""
            if results.exists():
                results.unlink()
                best = "; Optuna has no best trial, so no optimization_results.yaml"
            print(
                f"lmladder {name}: error: all {total} jobs of the sweep failed (their errors are above){best}; "
                f"fix what they name and run it again ({report} them)",
                file=sys.stderr,
                flush=True,
            )
            sys.exit(2)  # Hydra's callback runner catches Exception only: SystemExit ends the sweep's process
        if failed:
            line = f"lmladder {name}: {failed} of {total} jobs failed ({total - failed} finished; the sweep exits 0)"
            print(f"{line}; {report} the failed ones", file=sys.stderr, flush=True)
        elif total:
            print(f"[{name}] sweep: {total} of {total} jobs finished -> {self.sweep}", flush=True)

    def _states(self) -> list[str]:
        """The status of every job of this sweep, "refused" for a job that found its folder holding another run. A
        status.json older than the sweep is an earlier sweep's, left in a reused hydra.sweep.dir (1 s: a file
        system's coarser clock), and so is one in a folder a job of this sweep refused (written just before)."""
        records = [r for p in sorted((self.sweep / REFUSED).glob("*.json")) if (r := self._record(p))]
        taken = {str(r.get("job")) for r in records}
        statuses = [r for p in sorted(self.sweep.rglob(STATUS)) if str(p.parent.absolute()) not in taken
                    if (r := self._record(p))]  # fmt: skip
        return [r.get("status") for r in [*statuses, *records]]

    def _record(self, path: Path) -> dict | None:
        """A status or refusal written during this sweep, or None (older, or unreadable: not this sweep's)."""
        try:
            if path.stat().st_mtime >= self.started - 1.0:
                data = json.loads(path.read_text(encoding="utf-8"))
                return data if isinstance(data, dict) else None
        except (OSError, ValueError):
            pass
        return None

    def _no_best_without_a_finished_job(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Best ") or "ok" in self._states()
