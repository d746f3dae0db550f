"""The one-line error policy of a stage body: a project error (LmladderError) prints one line naming the problem and
the fix and exits 2 (LMLADDER_DEBUG=1 keeps the full traceback); in a sweep a failing job never stops the others."""

from __future__ import annotations

import contextlib
import os
import sys
import time
from pathlib import Path
from traceback import format_exc

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from .. import interrupt
from ..errors import LmladderError, reworded
from ..io import FolderTakenError, atomic_write_json
from ..stdout import StdoutFailed
from . import world
from .stage import Stage, stage_name

STATUS = "status.json"  # a job folder's outcome, which `lmladder report` and sweeps.SweepOutcome read
REFUSED = ".refused"  # in a sweep's folder: a record of each job that found its folder holding another run


@contextlib.contextmanager
def stage(name: str, cfg: DictConfig):
    """Run a stage body; project errors print one line and exit 2. In a sweep a failing job is marked failed in its
    status.json (project errors return; bugs re-raise, so Hydra still shows them) and the others go on."""
    st, name = None, stage_name(name, cfg)
    try:
        st = Stage(name, cfg)
        with interrupt.catching():
            yield st
        if not st.dvc and st.world.lead:
            atomic_write_json(st.job_dir / STATUS, {"status": "ok", "stage": st.name})
    except LmladderError as e:
        if os.environ.get("LMLADDER_DEBUG"):
            raise
        _project_error(st, name, e)
    except StdoutFailed as e:  # said already (lmladder.stdout); under mpiexec the other ranks must not wait for us
        world.current().abort(e.code)
    except KeyboardInterrupt:
        if os.environ.get("LMLADDER_DEBUG"):
            raise
        # the last checkpoint on disk is complete (atomic writes); resume=true (`dvc repro`) continues from it
        how = interrupt.RESUME
        if st and st.partial:
            how = f"`dvc repro` continues from the last checkpoint, kept in {st.partial}"
        # under mpiexec the first rank to see Ctrl-C says it and ends them all (the others may be inside MPI)
        print(f"lmladder {name}: interrupted; {how}", file=sys.stderr, flush=True)
        world.current().abort(130)
    except Exception as e:
        if in_multirun(st):  # a bug: record it for the report, then let Hydra print the traceback
            error = f"{type(e).__name__}: {e} (a bug; traceback in status.json)"
            mark_failed(name, error, traceback=format_exc())
        if world.current().size > 1:  # raising would leave the other ranks waiting for this one
            print(format_exc(), file=sys.stderr, flush=True)
            world.current().abort(1)
        raise


def _project_error(st: Stage | None, name: str, e: LmladderError) -> None:
    """One line on stderr, in the config's own keys; a sweep's job is marked failed and returns, a run exits 2."""
    multirun, w = in_multirun(st), world.current()
    message = reworded(e, st.keys) if st else str(e)
    taken = isinstance(e, FolderTakenError)  # the folder is another run's: its status.json is not this job's
    suffix = " (the sweep goes on; `lmladder report` lists this job as failed)" if multirun else ""
    if multirun and taken:
        suffix = " (the sweep goes on; that folder and its status are left as they were)"
    if w.rank:  # the same error on rank 0 ends every rank first; one only this rank hit says which
        time.sleep(1)
        name = f"{name} (MPI rank {w.rank})"
    print(f"lmladder {name}: error: {message}{suffix}", file=sys.stderr, flush=True)
    if multirun:
        (mark_refused if taken else mark_failed)(name, message)
        return
    w.abort(2)


def in_multirun(st: Stage | None) -> bool:
    try:
        return st.multirun if st else HydraConfig.get().mode == RunMode.MULTIRUN
    except ValueError:  # HydraConfig not set: not a Hydra job at all
        return False


def mark_refused(name: str, error: str) -> None:
    """A record for the sweep's summary (sweeps.SweepOutcome) of a job that left its folder alone because another run
    holds it: in the sweep's folder (REFUSED), never in the job's, whose status.json is the other run's."""
    hc = HydraConfig.get()
    sweep = Path(str(hc.runtime.cwd)) / str(hc.sweep.dir)  # hydra.sweep.dir is relative to where the sweep started
    record = {"status": "refused", "stage": name, "error": error, "job": str(hc.runtime.output_dir)}
    atomic_write_json(sweep / REFUSED / f"{hc.job.num}-{os.getpid()}.json", record)


def mark_failed(name: str, error: str, **extra) -> None:
    """status.json in the job folder, so `lmladder report` lists the job as failed with its error."""
    job = Path(HydraConfig.get().runtime.output_dir)
    atomic_write_json(job / STATUS, {"status": "failed", "stage": name, "error": error, **extra})
