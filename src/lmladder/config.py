"""The configuration schema as dataclasses. Stages merge the composed Hydra config into `RunConfig`, so unknown
keys and wrong types fail at once with a one-line message; the library never reads config files itself."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from .data.errors import DataError
from .data.splits import check_fractions
from .errors import LmladderError
from .training.settings import OptimSettings, TrainSettings


class ConfigError(LmladderError, ValueError):
    """The composed configuration is invalid; the message names the key and the fix."""


@dataclass
class DataConfig:
    name: str = "names"
    source: str = "babynames"  # babynames | file | url
    year: int = 2017  # babynames only
    path: str | None = None  # file source, or a local copy of a url source
    url: str | None = None
    sha256: str | None = None
    kind: str = "lines"  # lines | stream
    tokenizer: str = "char"  # char | byte
    fractions: list[float] = field(default_factory=lambda: [0.8, 0.1, 0.1])
    split_seed: int = 42
    raw_dir: str = "data/raw"


@dataclass
class NgramConfig:
    order: int = 2
    smoothing: float = 1.0
    num_samples: int = 20
    sample_tokens: int = 500
    temperature: float = 1.0


@dataclass
class MLPModelConfig:
    context: int = 3
    n_embd: int = 10
    n_hidden: int = 200
    n_layers: int = 1
    activation: str = "tanh"
    dropout: float = 0.0


@dataclass
class GPTModelConfig:
    block_size: int = 64
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    dropout: float = 0.0
    bias: bool = False
    norm: str = "layernorm"
    activation: str = "gelu"
    tie_weights: bool = True


@dataclass
class MLPConfig:
    model: MLPModelConfig = field(default_factory=MLPModelConfig)
    optim: OptimSettings = field(default_factory=OptimSettings)
    train: TrainSettings = field(default_factory=TrainSettings)


@dataclass
class GPTConfig:
    model: GPTModelConfig = field(default_factory=GPTModelConfig)
    optim: OptimSettings = field(default_factory=OptimSettings)
    train: TrainSettings = field(default_factory=TrainSettings)


@dataclass
class PathsConfig:
    prepared: str = "data/prepared"
    outputs: str = "outputs"
    reports: str = "outputs/reports"


@dataclass
class RunConfig:
    seed: int = 0
    seeds: list[int] = field(default_factory=lambda: [0])
    resume: Any = False  # false | true (this run's own checkpoint) | a checkpoint path
    data: DataConfig = field(default_factory=DataConfig)
    bigram: NgramConfig = field(default_factory=NgramConfig)
    mlp: MLPConfig = field(default_factory=MLPConfig)
    transformer: GPTConfig = field(default_factory=GPTConfig)
    paths: PathsConfig = field(default_factory=PathsConfig)


def validate(cfg: Any) -> RunConfig:
    """Merge a composed config (DictConfig or dict) into the schema; raise ConfigError on unknown keys or types."""
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    try:
        merged = OmegaConf.merge(OmegaConf.structured(RunConfig), cfg)
        run: RunConfig = OmegaConf.to_object(merged)
    except OmegaConfBaseException as e:
        key = getattr(e, "full_key", None) or "?"
        msg = str(e).splitlines()[0]
        if "not in" in msg or "Key" in msg and "not" in msg:
            raise ConfigError(f"config: unknown key '{key}' ({msg}); check the spelling against conf/") from None
        raise ConfigError(f"config: bad value for '{key}': {msg}; fix it in conf/ or on the command line") from None
    _check_ranges(run)
    return run


def _check_ranges(run: RunConfig) -> None:
    d = run.data
    if d.source not in ("babynames", "file", "url"):
        raise ConfigError(f"data.source={d.source!r}; choose babynames, file or url")
    if d.kind not in ("lines", "stream"):
        raise ConfigError(f"data.kind={d.kind!r}; choose lines (one document per line) or stream (running text)")
    if d.tokenizer not in ("char", "byte"):
        raise ConfigError(f"data.tokenizer={d.tokenizer!r}; choose char or byte")
    try:  # checked here too, so a bad split fails before any corpus is read or downloaded
        check_fractions(d.fractions)
    except DataError as e:
        raise ConfigError(str(e)) from None
    if d.sha256 is not None and not re.fullmatch(r"[0-9a-fA-F]{64}", str(d.sha256).strip()):
        raise ConfigError(f"data.sha256={str(d.sha256)[:80]!r} is not 64 hex digits; get it with `sha256sum FILE`")
    if not run.seeds:
        raise ConfigError("seeds is empty; list at least one seed, e.g. seeds=[0]")
    if run.bigram.order < 1 or run.bigram.smoothing < 0:
        raise ConfigError(f"bigram.order={run.bigram.order} must be >= 1 and bigram.smoothing >= 0")
    for key, block in (("mlp", run.mlp), ("transformer", run.transformer)):
        block.optim.check(f"{key}.optim")
        block.train.check(f"{key}.train")
        for name, value in vars(block.model).items():
            if isinstance(value, int) and not isinstance(value, bool) and value <= 0:
                raise ConfigError(f"{key}.model.{name}={value} must be a positive integer")
        if not 0 <= block.model.dropout < 1:
            raise ConfigError(f"{key}.model.dropout={block.model.dropout} must be in [0, 1)")
    t = run.transformer.model
    if t.n_embd % t.n_head:
        raise ConfigError(
            f"transformer.model.n_embd={t.n_embd} is not divisible by n_head={t.n_head}; "
            "pick n_embd a multiple of n_head"
        )
