"""Glue for sweeps (-m) that runs before Hydra: a search space Optuna would refuse, and the PYTHONPATH of jobs that
submitit starts in new interpreters."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from _stage import refuse, rung_name
from lmladder.config import ConfigError


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
    """hydra-optuna-sweeper shows a search dimension Optuna refuses (interval(1e-1, 1e-3), a log interval from 0) as
    a traceback from inside the plugin; one given on the command line is refused here first, in one line (the
    presets' own dimensions are tested). Hydra reports overrides it cannot parse itself, clearly."""
    args = sys.argv[1:] if argv is None else argv
    sweeper = next((a for a in args if a.startswith("hydra/sweeper=optuna")), None)
    if not sweeper:
        return
    from hydra.errors import OverrideParseException

    try:
        from hydra_plugins.hydra_optuna_sweeper._impl import create_params_from_overrides
    except ModuleNotFoundError as e:
        refuse(rung_name(name, args), ConfigError(f"{sweeper}: {e}; pip install -e '.[optuna]'"))
    for a in args:
        try:
            if not a.startswith(("-", "hydra")):
                create_params_from_overrides([a])  # what the sweeper makes of it, one override at a time
        except OverrideParseException:
            continue
        except ValueError as e:
            refuse(rung_name(name, args), ConfigError(f"{a}: {str(e).rstrip('.')}; fix that search dimension"))
