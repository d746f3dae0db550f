"""The composed Hydra config (conf/ -> params.yaml) as typed objects, and the words its errors are said in.

The library names its own parameters (`block_size=16`); this layer knows which config key set each one
(`transformer.model.block_size`) and rewords library errors in those keys, so a message points at what to edit.
The schema is the library's own dataclasses: DataConfig, each model's Config, the training settings. Unknown keys
and wrong types fail at once with a one-line message; the library never reads config files itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any

from .data import DataConfig
from .data import config as data_config
from .errors import LmladderError, reworded
from .models import DATA_FIELDS, rung_class, rungs
from .rules import Rule, check_fields, groups, integer, paths


class ConfigError(LmladderError, ValueError):
    """The composed configuration is invalid; the message names the key and the fix."""


# keys of a rung's block that were renamed or moved, as users' configs may still hold them: old -> (new, why). Each is
# refused in one line naming its new key; an old key that is now a block (optim.schedule) only when it holds a value.
# A model's own renamed keys are its class's `renamed` (models/base.py), under `model.`; the data settings' are
# data.config.RENAMED, under `data.` (renames).
DATA = "data"
_GROUPED = "a feature's settings sit in a block of their own, under their owner"
RENAMED = {
    "train.block_size": ("train.seq_len", "block_size names only a model's own context, {rung}.model.block_size"),
    **{
        f"optim.{old}": (f"optim.{new}", _GROUPED)
        for old, new in {
            "betas": "adam.betas",
            "eps": "adam.eps",
            "momentum": "sgd.momentum",
            "muon_lr": "muon.lr",
            "muon_momentum": "muon.momentum",
            "nesterov": "muon.nesterov",
            "ns_steps": "muon.ns_steps",
            "ns_coeffs": "muon.ns_coeffs",
            "muon_split_qkv": "muon.split_qkv",
            "muon_weight_decay": "muon.weight_decay",
            "muon_cautious_wd": "muon.cautious_wd",
            "muon_momentum_warmup": "muon.momentum_warmup",
            "schedule": "schedule.name",
            "warmup_iters": "schedule.warmup_iters",
            "min_lr": "schedule.min_lr",
            "decay_iters": "schedule.decay_iters",
            "step_size": "schedule.step.size",
            "gamma": "schedule.step.gamma",
            "cooldown_frac": "schedule.wsd.cooldown_frac",
            "cooldown_shape": "schedule.wsd.cooldown_shape",
        }.items()
    },
    **{
        f"train.{old}": (f"train.{new}", _GROUPED)
        for old, new in {
            "teacher_order": "teacher.order",
            "teacher_weight": "teacher.weight",
            "eval_interval": "eval.interval",
            "eval_iters": "eval.iters",
            "eval_batch_size": "eval.batch_size",
            "checkpoint_interval": "checkpoint.interval",
            "average_start": "average.start",
            "ema_warmup": "average.warmup",
        }.items()
    },
    "train.ema": ("train.average.decay", "with {rung}.train.average.name=ema; " + _GROUPED),
    "train.swa": ("train.average.name=swa", _GROUPED),
}


@dataclass
class PathsConfig:
    prepared: str = "data/prepared"
    outputs: str = "outputs"
    reports: str = "outputs/reports"


# The pages of the pipeline a user turns on with `pages` (dvc.yaml's page@<name> stage runs stages/page_<name>.py):
# each costs more than the rest of the evaluate stage (docs/pipeline.md), so the default `dvc repro` writes none.
PAGES = ("inspect", "diff")


@dataclass
class RunConfig:
    """Everything but the rungs' settings (`bigram`, `mlp`, ...), which `rung_settings` types one at a time."""

    seed: int = integer(0, low=0, note="numpy's SeedSequence takes no negative seed")
    seeds: list[int] = field(default_factory=lambda: [0])  # each >= 0, each once: validate()
    resume: Any = False  # false | true (this run's own checkpoint) | a checkpoint path
    reshard: bool = False  # resume a checkpoint trained on another number of MPI ranks (training/parallel.py)
    rung: str | None = None  # the rung stages/train.py trains: one of lmladder.models.rungs()
    pipeline: list[str] = field(default_factory=lambda: list(rungs()))  # the rungs DVC trains and evaluate reports
    pages: list[str] = field(default_factory=list)  # the optional pages DVC adds after evaluate, from PAGES
    data: DataConfig = field(default_factory=DataConfig)
    paths: PathsConfig = field(default_factory=PathsConfig)


def config_keys(prefix: str, settings: Any) -> dict[str, str]:
    """{field: "prefix.field"} for a settings dataclass, a nested group's fields by their dotted path ("lookback.conv":
    "prefix.lookback.conv"): how its parameters are spelled in conf/."""
    return paths(settings, f"{prefix}.")


def merge(schema: type, node: Any, prefix: str = "") -> Any:
    """`node` (a DictConfig or dict) typed as the dataclass `schema`: unknown keys and wrong types are a ConfigError
    naming the full key (`prefix` + the key inside node)."""
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    _check_groups_are_maps(schema, node, prefix)
    try:
        return OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(schema), node))
    except OmegaConfBaseException as e:
        key = prefix + (getattr(e, "full_key", None) or "?")
        msg = str(e).splitlines()[0]
        if "not in" in msg or "Key" in msg and "not" in msg:
            raise ConfigError(f"config: unknown key '{key}' ({msg}); check the spelling against conf/") from None
        raise ConfigError(f"config: bad value for '{key}': {msg}; fix it in conf/ or on the command line") from None


def _check_groups_are_maps(schema: type, node: Any, prefix: str) -> None:
    """A group of settings given a value (`lookback.smear=true`) is refused by name: OmegaConf's error names none."""
    for name, cls in groups(schema):
        if hasattr(node, "keys") and name in node:
            if not hasattr(node[name], "keys"):
                keys = ", ".join(f.name for f in fields(cls))
                raise ConfigError(
                    f"config: '{prefix}{name}' is a group of settings ({keys}), not a value ({node[name]!r}); set "
                    f"its keys instead, e.g. {prefix}{name}.{fields(cls)[0].name}=..."
                )
            _check_groups_are_maps(cls, node[name], f"{prefix}{name}.")


def check(settings: Any, prefix: str) -> None:
    """Run `settings.check()` and each nested settings' own, saying any error in config keys under `prefix`."""
    for f in fields(settings):
        part = getattr(settings, f.name)
        if is_dataclass(part):
            check(part, f"{prefix}.{f.name}")
    if hasattr(settings, "check"):
        try:
            settings.check()
        except LmladderError as e:
            raise ConfigError(reworded(e, config_keys(prefix, settings))) from e  # LMLADDER_DEBUG shows both


def validate(cfg: Any) -> RunConfig:
    """The top level of a composed config (DictConfig or dict) as a RunConfig. The rungs' settings are only named here
    (a stage types the one it runs, so a stage never imports a rung it does not train)."""
    top = {k: v for k, v in cfg.items() if k not in rungs()}
    if hasattr(top.get(DATA), "keys"):
        refuse_renamed(top[DATA], DATA)
    run: RunConfig = merge(RunConfig, top)
    check_fields(run, ConfigError)
    check(run.data, "data")
    if not run.seeds:
        raise ConfigError("seeds is empty; list at least one seed, e.g. seeds=[0]")
    if bad := [s for s in run.seeds if not Rule("integer", 0).holds(s)]:
        raise ConfigError(f"seeds={list(run.seeds)}: {bad[0]!r} is not a seed; list integers >= 0, e.g. seeds=[0,1,2]")
    if len(set(run.seeds)) < len(run.seeds):
        twice = next(s for s in run.seeds if run.seeds.count(s) > 1)
        raise ConfigError(
            f"seeds={list(run.seeds)} lists seed {twice} twice: the report would count one run as several "
            "(n too high, std too low); list each seed once"
        )
    if run.rung is not None and run.rung not in rungs():
        raise ConfigError(f"rung={run.rung!r} is not a rung of the ladder; choose one of {', '.join(rungs())}")
    for rung in run.pipeline:
        if rung not in rungs() or run.pipeline.count(rung) > 1:
            problem = "is listed twice" if rung in rungs() else "is not a rung of the ladder"
            raise ConfigError(
                f"pipeline={list(run.pipeline)}: {rung!r} {problem}; list each rung once, from {', '.join(rungs())}"
            )
    if bad := [p for p in run.pages if p not in PAGES or run.pages.count(p) > 1]:
        problem = "is listed twice" if bad[0] in PAGES else "is no page of the pipeline"
        raise ConfigError(
            f"pages={list(run.pages)}: {bad[0]!r} {problem}; list each page once, from {', '.join(PAGES)}"
        )
    return run


def rung_settings(cfg: Any, rung: str, schema: type) -> Any:
    """The `rung` settings of a composed config typed as `schema` (training.settings.rung_schema) and checked."""
    node = cfg.get(rung)
    if node is None:
        raise ConfigError(f"the config has no '{rung}' block; add `- {rung}: base` to the defaults in conf/config.yaml")
    refuse_renamed(node, rung)
    model = node.get("model")
    if given := [k for k in DATA_FIELDS if hasattr(model, "keys") and k in model]:
        raise ConfigError(
            f"{rung}.model.{given[0]} is set from the prepared data (its tokenizer), not in the config; remove it"
        )
    settings = merge(schema, node, f"{rung}.")
    check(settings, rung)
    return settings


def refuse_renamed(node: Any, block: str) -> None:
    """Refuse the first renamed key (renames(block)) that `node`, the config's `block`, still holds."""
    table = renames(block)
    for old in table:
        *path, key = old.split(".")
        parent = node
        for part in path:
            parent = parent.get(part) if hasattr(parent, "keys") else None
        if hasattr(parent, "keys") and key in parent and not _now_a_block(table[old][0], old, parent[key]):
            raise renamed(f"{block}.{old}", block, old)


def renames(rung: str) -> dict[str, tuple[str, str]]:
    """Every renamed key of the block `rung`: the data settings' (data.config.RENAMED) for `data`; for a rung,
    RENAMED and its model class's own under `model.`."""
    if rung == DATA:
        return dict(data_config.RENAMED)
    model = {f"model.{old}": (f"model.{new}", why) for old, (new, why) in rung_class(rung).renamed.items()}
    return {**RENAMED, **model}


def _now_a_block(new: str, old: str, value: Any) -> bool:
    """An old key whose name is now a block's (optim.schedule: its name went to optim.schedule.name) is the new key
    when it holds a mapping."""
    return new.startswith(old + ".") and hasattr(value, "keys")


def renamed(key: str, rung: str, old: str) -> ConfigError:
    """The one-line refusal of `key`, a renamed key of `rung`'s block (renames(rung)[old])."""
    new, why = renames(rung)[old]
    return ConfigError(f"{key} is now {rung}.{new} ({why.format(rung=rung)}); rename it in your config")


def check_overrides(overrides: list[str]) -> None:
    """Refuse a renamed key among command-line overrides (`transformer.optim.muon_lr=0.03`, `data.vocab_size=512`,
    with or without + or ~)
    before Hydra composes them: Hydra would only say that the key is not in the config."""
    for arg in overrides:
        key, _, value = arg.lstrip("+~").partition("=")
        rung, _, old = key.partition(".")
        if rung not in (*rungs(), DATA) or old not in (table := renames(rung)):
            continue
        if table[old][0].startswith(old + ".") and (arg.startswith("~") or value.startswith("{")):
            continue  # the block that holds the key now: removed, or given whole
        raise renamed(key, rung, old)


def rung_settings_keys(rung: str, settings: Any) -> dict[str, str]:
    """How the parameters of a rung's settings are spelled in conf/; a name in two parts is said as the model's."""
    keys: dict[str, str] = {}
    for part in ("sample", "optim", "train", "model"):  # lowest priority first: later parts overwrite
        if hasattr(settings, part):
            keys.update(config_keys(f"{rung}.{part}", getattr(settings, part)))
    return keys
