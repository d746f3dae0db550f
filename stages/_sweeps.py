"""Glue for sweeps (-m) that runs before Hydra: a search space Optuna would refuse, and the PYTHONPATH of jobs that
submitit starts in new interpreters."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from _stage import refuse, rung_name
from lmladder.config import ConfigError
from lmladder.rules import Rule

# numbers hydra-optuna-sweeper takes unchecked: 0 trials ends in Optuna's "No trials are completed yet" traceback,
# 0 trials per batch in a division by zero, a negative failure rate in an AssertionError after the first batch
SWEEPER_RULES = {
    "hydra.sweeper.n_trials": Rule("integer", low=1, note="how many trials the search runs"),
    "hydra.sweeper.n_jobs": Rule("integer", low=1, note="trials per batch"),
    "hydra.sweeper.max_failure_rate": Rule("number", low=0, high=1, note="the share of a batch allowed to fail"),
}


def importable_in_jobs() -> None:
    """Launchers that start each job in a new interpreter (submitit: hydra/launcher=slurm_cpu, slurm_cpu_local)
    unpickle the stage's main there, and it refers to stages/_stage.py by name: put stages/ on the PYTHONPATH the
    jobs inherit from this process (sbatch and the local executor pass the environment on; joblib's workers get
    sys.path)."""
    here = str(Path(__file__).resolve().parent)
    paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    if here not in paths:
        os.environ["PYTHONPATH"] = os.pathsep.join([here, *paths])


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
    except ModuleNotFoundError as e:
        refuse(rung_name(name, args), ConfigError(f"{sweeper}: {e}; pip install -e '.[optuna]'"))
    parser = OverridesParser.create()
    for a in (a for a in args if not a.startswith("-")):
        try:
            o = parser.parse_override(a)
            if (rule := SWEEPER_RULES.get(o.key_or_group)) and not rule.holds(o.value()):
                refuse(rung_name(name, args), ConfigError(f"{o.key_or_group}={a.split('=', 1)[1]} {rule.wanted()}"))
            if not a.startswith("hydra"):
                create_params_from_overrides([a])  # what the sweeper makes of it, one override at a time
        except HydraException:
            continue
        except ValueError as e:
            refuse(rung_name(name, args), ConfigError(f"{a}: {str(e).rstrip('.')}; fix that search dimension"))
