"""A sweep job whose worker process was killed (hydra_plugins/lmladder_launchers/resilient_joblib.py runs each job
of a joblib sweep in a worker of its own): marked failed like any failed job, so the sweep goes on (issue 47)."""

from __future__ import annotations

import sys
from pathlib import Path

from hydra.core.utils import JobReturn, JobStatus, filter_overrides
from omegaconf import open_dict

from ..io import atomic_write_json
from .policy import STATUS
from .startup import rung_name


def killed_job(launcher, idx: int, overrides, exit_codes: str) -> JobReturn:
    """The job `idx` whose worker died with `exit_codes` (e.g. SIGKILL(-9)): its status.json says failed (which
    `lmladder report` and the sweep's exit status read, sweeps.SweepOutcome) and one line on stderr says why; Hydra
    gets a finished job without a value, so the sweep goes on and its summary counts the failure."""
    cfg = launcher.hydra_context.config_loader.load_sweep_config(launcher.config, list(overrides))
    with open_dict(cfg):
        cfg.hydra.job.id, cfg.hydra.job.num = f"{cfg.hydra.job.name}_{idx}", idx
    job_dir = Path(str(cfg.hydra.sweep.dir)) / str(cfg.hydra.sweep.subdir)
    name = rung_name(str(cfg.hydra.job.name), list(overrides))
    error = (
        f"job {idx} ({' '.join(filter_overrides(overrides))}) was killed: its worker process died (exit code "
        f"{exit_codes}, e.g. the out-of-memory killer or kill -9); run it again alone, with less memory asked of it"
    )
    atomic_write_json(job_dir / STATUS, {"status": "failed", "stage": name, "error": error})
    print(f"lmladder {name}: error: {error} (the sweep goes on; `lmladder report` lists this job as failed)",
          file=sys.stderr, flush=True)  # fmt: skip
    ret = JobReturn(overrides=list(overrides), cfg=cfg, working_dir=str(job_dir), task_name=str(cfg.hydra.job.name))
    ret.status, ret.return_value = JobStatus.COMPLETED, None
    return ret
