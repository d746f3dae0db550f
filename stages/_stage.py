"""Glue shared by the stage scripts: where outputs go (DVC's fixed paths vs Hydra's job folder), config
validation, prepared data, and errors shown as one line (LMLADDER_DEBUG=1 keeps the full traceback)."""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import time
from dataclasses import asdict
from pathlib import Path
from traceback import format_exc
from typing import NoReturn

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from lmladder.config import ConfigError, RunConfig, config_keys, validate
from lmladder.data import Prepared, ensure_prepared, load_matching
from lmladder.errors import LmladderError, reworded
from lmladder.io import atomic_write_json, check_user_file, path_kind, read_checkpoint_meta
from lmladder.parallel import World, connect
from lmladder.stdout import StdoutFailed, guarded_stdout

LIVE = "dvclive"  # DVCLive's folder: dvclive/<rung>/seed<N> under DVC (dvc.yaml), else in the job folder
PARTIAL = ".partial"  # outputs/.partial/<rung>/seed<N>: a DVC stage's run until it finishes (Stage.out_dir)
_world = World()  # the MPI ranks of this process (join_world), before Hydra runs


def join_world(name: str) -> None:
    """Connect to the MPI ranks this stage was started with (mpiexec/srun), before Hydra makes its job folder:
    ranks other than 0 then write no Hydra output or log, and use rank 0's job folder (Stage)."""
    global _world
    try:
        _world = connect()
    except LmladderError as e:
        refuse(name, e)
    if _world.size > 1 and {"-m", "--multirun"} & set(sys.argv):
        if _world.lead:
            print(
                f"lmladder {name}: error: -m under mpiexec: each of the {_world.size} ranks would run the whole "
                "sweep; start one mpiexec per run, or sweep without mpiexec",
                file=sys.stderr,
                flush=True,
            )
        else:
            time.sleep(5)  # rank 0 says it and ends every rank
        _world.abort(2)
    if _world.rank:  # after the last override: argparse takes one run of them (a flag may come before or after)
        at = max((i + 1 for i, a in enumerate(sys.argv) if "=" in a and not a.startswith("-")), default=len(sys.argv))
        sys.argv[at:at] = ["hydra.output_subdir=null", "hydra/job_logging=disabled", "hydra/hydra_logging=disabled"]


class Stage:
    def __init__(self, name: str, cfg: DictConfig):
        self.name = name
        self.dvc = bool(os.environ.get("DVC_STAGE"))
        hc = HydraConfig.get()
        self.multirun = hc.mode == RunMode.MULTIRUN
        self.job_dir = Path(hc.runtime.output_dir)
        if self.dvc and hc.job.config_name != "params":
            raise ConfigError(
                f"under DVC, stages read the params.yaml snapshot (--config-name params), not "
                f"'{hc.job.config_name}'; use the cmd in dvc.yaml"
            )
        self.world = _world
        if self.world.size > 1:  # (join_world refused a sweep)
            lead_dir = Path(self.world.bcast(str(self.job_dir)))  # ${now:...} may differ by a second between ranks
            if lead_dir != self.job_dir:
                with contextlib.suppress(OSError):
                    self.job_dir.rmdir()  # this rank's own, made empty by Hydra (join_world)
                self.job_dir = lead_dir
        self.raw = OmegaConf.to_container(cfg, resolve=True)
        self._cfg, self._run = cfg, None
        self.partial: Path | None = None
        self.keys: dict[str, str] = {}  # library parameter -> the config key that sets it, for error messages

    @property
    def run(self) -> RunConfig:
        # Validated on first use, inside the `with stage(...)` body: a contextmanager cannot skip its body, so an
        # error raised before the yield could not be recorded as a failed sweep job and let the sweep go on.
        if self._run is None:
            self._run = validate(self._cfg)
            self.keys = {**config_keys("data", self._run.data), **self.keys}
        return self._run

    def prepared(self) -> Prepared:
        paths = self.run.paths
        if self.dvc:
            return load_matching(self.run.data, paths.prepared)
        if not self.world.lead:
            self.world.bcast(None)  # rank 0 prepares (or finds) the data first; the others then read its cache
        prep, where = ensure_prepared(
            self.run.data, prepared_dir=paths.prepared, cache_root=Path(paths.prepared).parent / "cache"
        )
        if self.world.lead:
            self.world.bcast(None)
            print(f"[{self.name}] data: {where}")
        return prep

    def out_dir(self) -> Path:
        """Where the run of the config's rung and seed writes. Under DVC: outputs/.partial/<rung>/seed<N>, a folder
        DVC does not own, so the checkpoints of an interrupted `dvc repro` survive it (DVC deletes a stage's outputs
        before it runs the stage again); `publish` moves the finished run to the stage's output,
        outputs/<rung>/seed<N>."""
        if self.dvc:
            self.partial = Path(self.run.paths.outputs) / PARTIAL / self.run.rung / f"seed{self.run.seed}"
            return self.partial
        self.keys.setdefault("out_dir", "hydra.run.dir")  # how a library message's out_dir= is set here
        return self.job_dir

    def live_dir(self, on: bool, key: str) -> Path | None:
        """Where the run's DVCLive log goes (rank 0 alone logs; None: no log). Under DVC dvclive/<rung>/seed<N>,
        outside the renamed outputs/.partial folder, so `dvc exp show` and `dvc plots` read it while the stage
        trains (dvc.yaml declares it); otherwise the run's own job folder. `on`: the config switch, `key` its name."""
        if self.dvc and not on:
            raise ConfigError(
                f"{key}=false: dvc.yaml declares this run's live log as an output; leave it true in the "
                "pipeline (turn it off for plain runs and sweeps: python stages/train.py ...)"
            )
        if not (on and self.world.lead):
            return None
        return Path(LIVE) / self.run.rung / f"seed{self.run.seed}" if self.dvc else self.job_dir / LIVE

    def publish(self) -> Path:
        """The finished run's folder, moved (one rename) to where dvc.yaml expects it, under DVC."""
        if not self.dvc:
            return self.job_dir
        final = Path(self.run.paths.outputs) / self.run.rung / f"seed{self.run.seed}"
        if not self.world.lead:
            return final
        if final.exists():  # DVC removed it before running the stage; only a run outside `dvc repro` finds one
            shutil.rmtree(final)
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(self.partial, final)
        return final

    def _dvc_resume(self, out: Path) -> Path | None:
        """Continue the run an interrupted `dvc repro` left in `out` when it trained this very stage (same rung
        settings, seed and data; resuming is bit-exact, so the result is the uninterrupted run's); else clear it.
        Rank 0 decides, for every MPI rank."""
        return self.world.bcast(self._dvc_partial(out) if self.world.lead else None)

    def _dvc_partial(self, out: Path) -> Path | None:
        ckpt = out / "model.safetensors"
        if not ckpt.exists():
            shutil.rmtree(out, ignore_errors=True)  # killed before its first checkpoint: nothing to keep
            return None
        rung, theirs, ours = self.run.rung, read_checkpoint_meta(ckpt), self.meta()
        mine = (ours["seed"], ours["data"], ours["config"].get(rung))
        if (theirs.get("seed"), theirs.get("data"), theirs.get("config", {}).get(rung)) == mine:
            print(f"[{self.name}] continuing the run an interrupted `dvc repro` left in {out} (step {theirs['step']})")
            return ckpt
        print(f"[{self.name}] {out} holds an interrupted run with other settings; starting over")
        shutil.rmtree(out)
        return None

    def resume_path(self, out: Path) -> Path | None:
        if self.dvc:
            return self._dvc_resume(out)
        r = self.run.resume
        if r in (False, None, "false", "False"):
            return None
        if r in (True, "true", "True"):
            ckpt = out / "model.safetensors"
            if not ckpt.exists():  # resume what there is: a run killed before its first checkpoint starts over
                if self.world.lead:
                    print(
                        f"[{self.name}] resume=true: no checkpoint in {out} yet, starting from step 0 (to continue "
                        "an earlier run, give its folder as hydra.run.dir=...)"
                    )
                return None
            return ckpt
        ckpt = Path(str(r))
        fix = "give the path of a model.safetensors, or resume=true to continue this run's own"
        missing = f"resume={r}: no checkpoint file there; {fix}"
        check_user_file(ckpt, what=f"resume={r}", fix=fix, error=ConfigError, missing=missing)
        return ckpt

    def meta(self) -> dict:
        """What a run's checkpoints record beside the model (which names its rung): the seed, config and data."""
        # `resume` says how this process was started, not what was trained: an interrupted and resumed run
        # writes byte-identical checkpoints to an uninterrupted one
        config = {k: v for k, v in self.raw.items() if k not in ("resume", "reshard")}
        return {"seed": self.run.seed, "config": config, "data": asdict(self.run.data)}


def _in_multirun(st: Stage | None) -> bool:
    try:
        return st.multirun if st else HydraConfig.get().mode == RunMode.MULTIRUN
    except ValueError:  # HydraConfig not set: not a Hydra job at all
        return False


def _mark_failed(name: str, error: str, **extra) -> None:
    """status.json in the job folder, so `lmladder report` lists the job as failed with its error."""
    job = Path(HydraConfig.get().runtime.output_dir)
    atomic_write_json(job / "status.json", {"status": "failed", "stage": name, "error": error, **extra})


@contextlib.contextmanager
def stage(name: str, cfg: DictConfig):
    """Run a stage body; project errors print one line and exit 2. In a sweep a failing job never stops the others:
    it is marked failed in its status.json (project errors return; bugs re-raise, so Hydra still shows them)."""
    st = None
    try:
        st = Stage(name, cfg)
        yield st
        if not st.dvc and st.world.lead:
            atomic_write_json(st.job_dir / "status.json", {"status": "ok", "stage": st.name})
    except LmladderError as e:
        if os.environ.get("LMLADDER_DEBUG"):
            raise
        multirun = _in_multirun(st)
        message = reworded(e, st.keys) if st else str(e)
        name = st.name if st else name
        suffix = " (the sweep goes on; `lmladder report` lists this job as failed)" if multirun else ""
        if _world.rank:  # the same error on rank 0 ends every rank first; one only this rank hit says which
            time.sleep(1)
            name = f"{name} (MPI rank {_world.rank})"
        print(f"lmladder {name}: error: {message}{suffix}", file=sys.stderr, flush=True)
        if multirun:
            _mark_failed(name, message)
            return
        _world.abort(2)
    except StdoutFailed as e:  # said already (lmladder.stdout); under mpiexec the other ranks must not wait for us
        _world.abort(e.code)
    except KeyboardInterrupt:
        if os.environ.get("LMLADDER_DEBUG"):
            raise
        # the last checkpoint on disk is complete (atomic writes); resume=true (`dvc repro`) continues from it
        name = st.name if st else name
        how = "rerun with resume=true to continue from the last checkpoint"
        if st and st.partial:
            how = f"`dvc repro` continues from the last checkpoint, kept in {st.partial}"
        # under mpiexec the first rank to see Ctrl-C says it and ends them all (the others may be inside MPI)
        print(f"lmladder {name}: interrupted; {how}", file=sys.stderr, flush=True)
        _world.abort(130)
    except Exception as e:
        if _in_multirun(st):  # a bug: record it for the report, then let Hydra print the traceback
            error = f"{type(e).__name__}: {e} (a bug; traceback in status.json)"
            _mark_failed(st.name if st else name, error, traceback=format_exc())
        if _world.size > 1:  # raising would leave the other ranks waiting for this one
            print(format_exc(), file=sys.stderr, flush=True)
            _world.abort(1)
        raise


def entry(name: str) -> contextlib.AbstractContextManager:
    """Around a stage script's whole run: a failed write to stdout ends it in one line (lmladder.stdout)."""
    return guarded_stdout(f"lmladder {rung_name(name, sys.argv[1:])}")


def check_run_dir(name: str, argv: list[str] | None = None) -> None:
    """Hydra makes hydra.run.dir (hydra.sweep.dir with -m) before a stage's code runs, and shows a failure there as a
    traceback; a folder given on the command line that cannot be made is refused here first, in one line."""
    args = sys.argv[1:] if argv is None else argv
    name = rung_name(name, args)
    key = "hydra.sweep.dir" if {"-m", "--multirun"} & set(args) else "hydra.run.dir"
    value = next((a.split("=", 1)[1] for a in reversed(args) if a.startswith(key + "=")), None)
    if not value:
        return
    path = value.strip("'\"")
    literal = path.split("${")[0]  # up to the first interpolation (${now:...}): the part that may exist already
    start = Path(literal or ".") if literal == path or literal.endswith("/") else Path(literal).parent
    try:
        if problem := _unmakeable(start):
            raise ConfigError(f"{key}={value}: {problem}; point {key} at a new or existing folder you can write to")
    except ConfigError as e:
        refuse(name, e)


def rung_name(name: str, args: list[str]) -> str:
    if name == "train":  # a rung trains through train.py: its errors are the rung's
        name = next((a.split("=", 1)[1] for a in reversed(args) if a.startswith("rung=")), name)
    return name


def refuse(name: str, e: LmladderError) -> NoReturn:
    """A problem found before Hydra runs, as one line (exit 2)."""
    if os.environ.get("LMLADDER_DEBUG"):
        raise e
    print(f"lmladder {name}: error: {e}", file=sys.stderr, flush=True)
    sys.exit(2)


def _unmakeable(folder: Path) -> str | None:
    """Why `folder` cannot be made into a folder this process can write to, or None (it then exists)."""
    for p in (folder, *folder.parents):  # its nearest existing part says what is in the way
        kind = path_kind(p)
        if kind not in ("missing", "a directory"):
            return f"{p} is {'a regular file' if kind == 'file' else kind}, not a folder"
        if kind == "a directory":
            break
    try:
        folder.mkdir(parents=True, exist_ok=True)  # what Hydra does next
    except OSError as e:
        return f"cannot make {folder} ({e.strerror or e})"
    if not os.access(folder, os.W_OK):
        return f"{folder} is read-only (not writable by this user, or on a read-only file system)"
    return None
