"""A training stage's run as one value (training.settings.Run), made from the stage's validated config."""

from __future__ import annotations

from pathlib import Path

from ..config import ConfigError, rung_settings, rung_settings_keys
from ..models import rung_class, rungs
from ..training.live import LiveLog
from ..training.settings import Run, rung_schema
from .stage import CHECKPOINT, Stage


def training_run(st: Stage) -> Run:
    """The run of the config's rung and seed as one value: its settings typed and checked, its folder, data,
    live log and what it resumes. The order is the order of the checks a user meets."""
    rung = st.run.rung
    if rung is None:
        raise ConfigError(f"rung is not set; choose one of {', '.join(rungs())}, e.g. python stages/train.py rung=mlp")
    cls = rung_class(rung)
    settings = rung_settings(st.cfg, rung, rung_schema(cls))
    st.keys.update(rung_settings_keys(rung, settings))
    out = st.out_dir()
    train = getattr(settings, "train", None)
    where = st.live_dir(on=train.dvclive if train else True, key=f"{rung}.train.dvclive")
    params = {"rung": rung, "seed": st.run.seed, "data": st.raw.get("data"), rung: st.raw.get(rung)}
    data = st.prepared()  # first: the run's record (st.meta) holds the digest of its corpus
    return Run(
        cls=cls,
        config=settings.model,
        data=data,
        seed=st.run.seed,
        out_dir=out,
        sample=settings.sample,
        optim=getattr(settings, "optim", None),
        train=train,
        meta=st.meta(),
        resume=st.resume_path(out),
        reshard=st.run.reshard,
        world=st.world,
        live=LiveLog(where, params) if where else None,
    )


def first_run(st: Stage, rung: str) -> Path:
    """The checkpoint of `rung`'s first seed in the pipeline's outputs (what the optional pages show), refused in one
    line when that run was never trained."""
    ckpt = Path(st.run.paths.outputs) / rung / f"seed{st.run.seeds[0]}" / CHECKPOINT
    if not ckpt.is_file():
        raise ConfigError(f"{ckpt} is missing; run `dvc repro` (or python stages/train.py) to train {rung} first")
    return ckpt
