"""A joblib sweep whose killed job fails alone (issue 47).

joblib.Parallel runs a sweep's jobs on one pool of loky workers; when one worker is killed (the OOM killer,
`kill -9`) the pool breaks: TerminatedWorkerError ended the sweep with a traceback, the sibling job was abandoned
and the rest never started. Here each job runs in a one-worker loky executor of its own, n_jobs at a time, so a
killed worker breaks only its own job: that job is marked failed in its status.json (which `lmladder report` and the
sweep's exit status read, sweeps.SweepOutcome) with one line on stderr, and the others go on. Each job starts a
fresh interpreter (a second or two), as loky's cloudpickle carries the stage's task function there.
"""

from __future__ import annotations

import logging
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, JobStatus, configure_log, filter_overrides, setup_globals
from hydra_plugins.hydra_joblib_launcher._core import execute_job
from joblib.externals.loky import ProcessPoolExecutor
from joblib.externals.loky.process_executor import TerminatedWorkerError
from omegaconf import open_dict

from ..io import atomic_write_json
from ..resources import usable_cores
from .policy import STATUS
from .startup import rung_name

log = logging.getLogger(__name__)
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def launch_isolated(launcher, job_overrides, initial_job_idx: int) -> list[JobReturn]:
    """hydra-joblib-launcher's launch(), each job in a worker of its own; returns one JobReturn per job."""
    setup_globals()
    configure_log(launcher.config.hydra.hydra_logging, launcher.config.hydra.verbose)
    Path(str(launcher.config.hydra.sweep.dir)).mkdir(parents=True, exist_ok=True)
    n_jobs = int(launcher.joblib.get("n_jobs") or 1)
    n_jobs = usable_cores() if n_jobs < 1 else n_jobs
    # as joblib's loky backend does: BLAS threads shared out between the jobs that run at once, unless set
    threads = str(max(1, usable_cores() // n_jobs))
    env = {v: threads for v in THREAD_VARS if v not in os.environ}
    state = Singleton.get_state()
    log.info(
        f"joblib (loky) is launching {len(job_overrides)} jobs, n_jobs={n_jobs} at a time, each in a worker of its own"
    )
    log.info(f"Launching jobs, sweep output dir : {launcher.config.hydra.sweep.dir}")
    for idx, overrides in enumerate(job_overrides, start=initial_job_idx):
        log.info(f"\t#{idx} : {' '.join(filter_overrides(overrides))}")

    def one(idx: int, overrides) -> JobReturn:
        with ProcessPoolExecutor(max_workers=1, env=env) as worker:
            args = (idx, overrides, launcher.hydra_context, launcher.config, launcher.task_function, state)
            try:
                return worker.submit(execute_job, *args).result()
            except TerminatedWorkerError as e:
                return _killed(launcher, idx, overrides, e)

    jobs = list(enumerate(job_overrides, start=initial_job_idx))
    with ThreadPoolExecutor(min(n_jobs, len(jobs)) or 1) as pool:
        return list(pool.map(lambda job: one(*job), jobs))


def _killed(launcher, idx: int, overrides, e: TerminatedWorkerError) -> JobReturn:
    """The job whose worker died: status.json says failed (with why), one line on stderr; Hydra gets a finished
    job without a value, so the sweep goes on and its summary counts the failure."""
    cfg = launcher.hydra_context.config_loader.load_sweep_config(launcher.config, list(overrides))
    with open_dict(cfg):
        cfg.hydra.job.id, cfg.hydra.job.num = f"{cfg.hydra.job.name}_{idx}", idx
    job_dir = Path(str(cfg.hydra.sweep.dir)) / str(cfg.hydra.sweep.subdir)
    said = str(e).partition("The exit codes of the workers are ")[2].split("\n")[0]
    codes = said.strip().strip(".{}") or "unknown"  # "{SIGKILL(-9)}" -> SIGKILL(-9)
    name = rung_name(str(cfg.hydra.job.name), list(overrides))
    error = (
        f"job {idx} ({' '.join(filter_overrides(overrides))}) was killed: its worker process died (exit code "
        f"{codes}, e.g. the out-of-memory killer or kill -9); run it again alone, with less memory asked of it"
    )
    atomic_write_json(job_dir / STATUS, {"status": "failed", "stage": name, "error": error})
    print(f"lmladder {name}: error: {error} (the sweep goes on; `lmladder report` lists this job as failed)",
          file=sys.stderr, flush=True)  # fmt: skip
    ret = JobReturn(overrides=list(overrides), cfg=cfg, working_dir=str(job_dir), task_name=str(cfg.hydra.job.name))
    ret.status, ret.return_value = JobStatus.COMPLETED, None
    return ret
