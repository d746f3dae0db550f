"""A stage's view of its job: the validated config, where its outputs go (DVC's fixed paths vs Hydra's job folder),
the prepared data and what to resume. Light on purpose: the prepare stage imports it, and must not load (and so
depend on) the trainer; a training stage makes its Run in runs.py."""

from __future__ import annotations

import contextlib
import os
import shutil
from dataclasses import asdict
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from ..config import ConfigError, RunConfig, config_keys, validate
from ..data import Prepared, ensure_prepared, load_matching
from ..data.config import from_stored as stored_data
from ..io import check_user_file, read_checkpoint_meta
from ..models import rungs
from . import world

LIVE = "dvclive"  # DVCLive's folder: dvclive/<rung>/seed<N> under DVC (dvc.yaml), else in the job folder
PARTIAL = ".partial"  # outputs/.partial/<rung>/seed<N>: a DVC stage's run until it finishes (Stage.out_dir)
CHECKPOINT = "model.safetensors"


def stage_name(name: str, cfg: Any) -> str:
    """The name a stage's messages go by: the train stage's is the rung it trains, once the config names a rung."""
    rung = cfg.get("rung") if name == "train" else None
    return rung if rung in rungs() else name


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
        self.world = world.current()
        if self.world.size > 1:  # (startup.join_world refused a sweep)
            lead_dir = Path(self.world.bcast(str(self.job_dir)))  # ${now:...} may differ by a second between ranks
            if lead_dir != self.job_dir:
                with contextlib.suppress(OSError):
                    self.job_dir.rmdir()  # this rank's own, made empty by Hydra (join_world)
                self.job_dir = lead_dir
        self.raw = OmegaConf.to_container(cfg, resolve=True)
        self.cfg, self._run = cfg, None
        self.partial: Path | None = None
        self.corpus_sha256: str | None = None  # the text the run trains on, once prepared() has found it
        self.keys: dict[str, str] = {}  # library parameter -> the config key that sets it, for error messages

    @property
    def run(self) -> RunConfig:
        # Validated on first use, inside the `with stage(...)` body: a contextmanager cannot skip its body, so an
        # error raised before the yield could not be recorded as a failed sweep job and let the sweep go on.
        if self._run is None:
            self._run = validate(self.cfg)
            self.keys = {**config_keys("data", self._run.data), **self.keys}
        return self._run

    def prepared(self) -> Prepared:
        """The run's prepared data; its corpus's sha256 goes into the run's record (meta)."""
        paths = self.run.paths
        if self.dvc:
            prep = load_matching(self.run.data, paths.prepared)
        else:
            if not self.world.lead:
                self.world.bcast(None)  # rank 0 prepares (or finds) the data first; the others then read its cache
            prep, where = ensure_prepared(
                self.run.data, prepared_dir=paths.prepared, cache_root=Path(paths.prepared).parent / "cache"
            )
            if self.world.lead:
                self.world.bcast(None)
                print(f"[{self.name}] data: {where}")
        self.corpus_sha256 = prep.stats.get("sha256")
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

    def resume_path(self, out: Path) -> Path | None:
        if self.dvc:
            return self._dvc_resume(out)
        r = self.run.resume
        if r in (False, None, "false", "False"):
            return None
        if r in (True, "true", "True"):
            ckpt = out / CHECKPOINT
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

    def _dvc_resume(self, out: Path) -> Path | None:
        """Continue the run an interrupted `dvc repro` left in `out` when it trained this very stage (same rung
        settings, seed and data; resuming is bit-exact, so the result is the uninterrupted run's); else clear it.
        Rank 0 decides, for every MPI rank."""
        return self.world.bcast(self._dvc_partial(out) if self.world.lead else None)

    def _dvc_partial(self, out: Path) -> Path | None:
        ckpt = out / CHECKPOINT
        if not ckpt.exists():
            shutil.rmtree(out, ignore_errors=True)  # killed before its first checkpoint: nothing to keep
            return None
        rung, theirs, ours = self.run.rung, read_checkpoint_meta(ckpt), self.meta()
        if isinstance(theirs.get("data"), dict):  # in today's keys, if written before the data settings' blocks
            theirs["data"] = stored_data(theirs["data"])
        mine = (self.run.seed, ours["data"], ours.get("corpus_sha256"), ours["config"].get(rung))
        keys = ("seed", "data", "corpus_sha256")  # an edited corpus under the same data settings: starts over
        if (*(theirs.get(k) for k in keys), theirs.get("config", {}).get(rung)) == mine:
            print(f"[{self.name}] continuing the run an interrupted `dvc repro` left in {out} (step {theirs['step']})")
            return ckpt
        print(f"[{self.name}] {out} holds an interrupted run with other settings; starting over")
        shutil.rmtree(out)
        return None

    def meta(self) -> dict:
        """What a run's checkpoints record beside the model, its seed and step: the config, the data settings and
        (once prepared() has run) the sha256 of the corpus text, which tells two versions of one data.path apart."""
        # `resume` says how this process was started, not what was trained: an interrupted and resumed run
        # writes byte-identical checkpoints to an uninterrupted one
        config = {k: v for k, v in self.raw.items() if k not in ("resume", "reshard")}
        digest = {"corpus_sha256": self.corpus_sha256} if self.corpus_sha256 else {}
        return {"config": config, "data": asdict(self.run.data), **digest}
