"""Glue shared by the stage scripts: where outputs go (DVC's fixed paths vs Hydra's job folder), config
validation, prepared data, and errors shown as one line (LMLADDER_DEBUG=1 keeps the full traceback)."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from dataclasses import asdict
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from lmladder.config import ConfigError, RunConfig, validate
from lmladder.data import Prepared
from lmladder.errors import LmladderError
from lmladder.io import atomic_write_json
from lmladder.pipeline import ensure_prepared, load_matching

RUNGS = {"bigram": "ngram", "mlp": "mlp", "transformer": "gpt"}  # config key -> model kind


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
        self.raw = OmegaConf.to_container(cfg, resolve=True)
        self.run: RunConfig = validate(cfg)

    def prepared(self) -> Prepared:
        paths = self.run.paths
        if self.dvc:
            return load_matching(self.run.data, paths.prepared)
        prep, where = ensure_prepared(
            self.run.data, prepared_dir=paths.prepared, cache_root=Path(paths.prepared).parent / "cache"
        )
        print(f"[{self.name}] data: {where}")
        return prep

    def out_dir(self, rung: str) -> Path:
        if self.dvc:
            return Path(self.run.paths.outputs) / rung / f"seed{self.run.seed}"
        return self.job_dir

    def resume_path(self, out: Path) -> Path | None:
        r = self.run.resume
        if r in (False, None, "false", "False"):
            return None
        if r in (True, "true", "True"):
            ckpt = out / "model.safetensors"
            if not ckpt.exists():
                raise ConfigError(f"resume=true but {ckpt} does not exist; give resume=/path/to/model.safetensors")
            return ckpt
        return Path(str(r))

    def meta(self, rung: str) -> dict:
        return {"rung": rung, "seed": self.run.seed, "config": self.raw, "data": asdict(self.run.data)}


@contextlib.contextmanager
def stage(name: str, cfg: DictConfig):
    """Run a stage body; project errors print one line and exit 2 (in a sweep: the job is marked failed)."""
    st = None
    try:
        st = Stage(name, cfg)
        yield st
        if not st.dvc:
            atomic_write_json(st.job_dir / "status.json", {"status": "ok", "stage": name})
    except LmladderError as e:
        if os.environ.get("LMLADDER_DEBUG"):
            raise
        print(f"lmladder {name}: error: {e}", file=sys.stderr, flush=True)
        multirun = st.multirun if st else HydraConfig.get().mode == RunMode.MULTIRUN
        if multirun:  # keep the sweep going; `lmladder report` lists this job as failed
            job = Path(HydraConfig.get().runtime.output_dir)
            (job / "status.json").write_text(json.dumps({"status": "failed", "stage": name, "error": str(e)}))
            return
        sys.exit(2)
