"""`hydra/launcher=joblib_2` (conf/hydra/launcher/joblib_2.yaml): hydra-joblib-launcher's sweep, each job in a
one-worker process pool, so that a killed job fails alone (issue 47).

joblib.Parallel runs a sweep's jobs on one pool of loky workers; when one worker is killed (the OOM killer,
`kill -9`) the pool breaks: TerminatedWorkerError ended the sweep with a traceback, the sibling job was abandoned
and the rest never started. Here n_jobs slots each run one job at a time in a one-worker loky executor of their
own, so a killed worker breaks only its own job, which lmladder marks failed (lmladder/app/launch.py) while the
others go on. A slot keeps its worker for its next job, as joblib.Parallel's pool does, and starts a fresh one only
after its worker died: a fresh interpreter costs about 1.7 CPU-seconds of imports, Hydra and kernel loading before a
job's first step, 7 while numba's kernel cache is still being filled (frontier points of names.txt on a 2-core Zen
4), more than many small runs train. loky carries the
stage's task function there, as joblib.Parallel does. Hydra finds launchers only in the hydra_plugins package, and
lmladder's own code never imports joblib (tests/reliability/test_no_unsafe_code.py): the pool lives here."""

from __future__ import annotations

import logging
import os
import queue
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, configure_log, filter_overrides, setup_globals

try:
    from hydra_plugins.hydra_joblib_launcher._core import execute_job
    from hydra_plugins.hydra_joblib_launcher.joblib_launcher import JoblibLauncher
    from joblib.externals.loky import ProcessPoolExecutor
    from joblib.externals.loky.process_executor import TerminatedWorkerError
except ImportError:  # no lmladder[joblib]: the class below extends nothing, so Hydra registers no launcher (and says
    JoblibLauncher = object  # nothing, where a failed import would warn on every stage's start)

log = logging.getLogger(__name__)
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


class ResilientJoblibLauncher(JoblibLauncher):
    def launch(self, job_overrides, initial_job_idx: int) -> list[JobReturn]:
        """hydra-joblib-launcher's launch(), each job in a worker of its own; one JobReturn per job."""
        from lmladder.app.launch import killed_job
        from lmladder.resources import usable_cores

        setup_globals()
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        Path(str(self.config.hydra.sweep.dir)).mkdir(parents=True, exist_ok=True)
        n_jobs = int(self.joblib.get("n_jobs") or 1)
        n_jobs = usable_cores() if n_jobs < 1 else n_jobs
        # as joblib's loky backend does: BLAS threads shared out between the jobs that run at once, unless set
        threads = str(max(1, usable_cores() // n_jobs))
        env = {v: threads for v in THREAD_VARS if v not in os.environ}
        state = Singleton.get_state()
        log.info(f"joblib (loky) is launching {len(job_overrides)} jobs, n_jobs={n_jobs} at a time, each in a worker "
                 "of its own")  # fmt: skip
        log.info(f"Launching jobs, sweep output dir : {self.config.hydra.sweep.dir}")
        jobs = list(enumerate(job_overrides, start=initial_job_idx))
        for idx, overrides in jobs:
            log.info(f"\t#{idx} : {' '.join(filter_overrides(overrides))}")

        slots = queue.SimpleQueue()  # each slot's worker, reused by the next job it runs; None: start one
        for _ in range(min(n_jobs, len(jobs)) or 1):
            slots.put(None)

        def one(idx: int, overrides) -> JobReturn:
            worker = slots.get() or ProcessPoolExecutor(max_workers=1, env=env)
            args = (idx, overrides, self.hydra_context, self.config, self.task_function, state)
            try:
                ret = worker.submit(execute_job, *args).result()
            except TerminatedWorkerError as e:  # the worker died with the job: the slot's next job gets a new one
                worker.shutdown(wait=True)
                slots.put(None)
                said = str(e).partition("The exit codes of the workers are ")[2].split("\n")[0]
                return killed_job(self, idx, overrides, said.strip().strip(".{}") or "unknown")
            slots.put(worker)
            return ret

        try:
            with ThreadPoolExecutor(min(n_jobs, len(jobs)) or 1) as pool:
                return list(pool.map(lambda job: one(*job), jobs))
        finally:
            while not slots.empty():
                if (worker := slots.get()) is not None:
                    worker.shutdown(wait=True)
