"""conf/ states each setting once: params.yaml is what conf/ composes to, every group's base.yaml is the library's
own defaults (the config dataclasses), and a preset or experiment states only what it changes."""

import copy
import functools
from dataclasses import asdict
from pathlib import Path

import pytest
import yaml
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from lmladder.config import rung_settings, validate
from lmladder.data import DataConfig
from lmladder.models import DATA_FIELDS, ladder, rung_class
from lmladder.training.settings import OptimSettings, SampleSettings, TrainSettings, rung_schema

ROOT = Path(__file__).resolve().parent.parent
CONF = ROOT / "conf"
RUNGS = ladder()  # every model file of lmladder/models
GROUPS = ["data", *RUNGS]


def _composed(overrides=()):
    return copy.deepcopy(_composed_once(tuple(overrides)))  # a copy: callers pop and edit what they get


@functools.cache
def _composed_once(overrides: tuple) -> dict:
    """Each composition once per test process: every preset's test composes its group's base again (conf/ does not
    change while the tests run)."""
    with initialize_config_dir(config_dir=str(CONF), version_base=None):
        return OmegaConf.to_container(compose(config_name="config", overrides=list(overrides)), resolve=True)


def _typed(cfg: dict) -> dict:
    """Every part of a composed config through its schema (raises on an unknown key, a wrong type, a bad value)."""
    run = validate(cfg)
    return {"run": run, **{r: rung_settings(cfg, r, rung_schema(rung_class(r))) for r in RUNGS}}


def _flat(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def test_params_yaml_equals_the_default_composition():
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    assert params == _composed(), (
        "params.yaml drifted from conf/: run `dvc exp run` to recompose it (and rerun what changed)"
    )


def test_every_rung_of_the_ladder_has_a_conf_group_in_the_defaults():
    defaults = yaml.safe_load((CONF / "config.yaml").read_text())["defaults"]
    chosen = {k for d in defaults if isinstance(d, dict) for k in d}
    for rung in RUNGS:
        assert (CONF / rung / "base.yaml").is_file(), f"conf/{rung}/base.yaml is missing (docs/adding-a-rung.md)"
        assert rung in chosen, f"conf/config.yaml's defaults do not choose a preset of {rung}"


@pytest.mark.parametrize("group", GROUPS)
def test_base_yaml_is_the_library_defaults(group):
    """conf/<group>/base.yaml holds the dataclass defaults: conf/ and the library never disagree about them."""
    got = _composed([f"{group}=base"])[group]
    if group == "data":
        want = asdict(DataConfig())
    else:
        want = asdict(rung_schema(rung_class(group))())
        want["model"] = {k: v for k, v in want["model"].items() if k not in DATA_FIELDS}
    assert got == want, f"conf/{group}/base.yaml (and conf/settings/) differ from the dataclass defaults"


def test_shared_settings_files_are_the_settings_defaults():
    for name, cls in (("optim", OptimSettings), ("train", TrainSettings), ("sample", SampleSettings)):
        assert yaml.safe_load((CONF / "settings" / f"{name}.yaml").read_text()) == asdict(cls()), name


def _presets():
    return [(g, f.stem) for g in GROUPS for f in sorted((CONF / g).glob("*.yaml")) if f.stem != "base"]


@pytest.mark.parametrize("group, preset", _presets())
def test_a_preset_states_only_what_it_changes(group, preset):
    own = yaml.safe_load((CONF / group / f"{preset}.yaml").read_text()) or {}
    assert own.pop("defaults", None) == ["base", "_self_"], f"{group}/{preset}.yaml must start from base"
    base = _flat(_composed([f"{group}=base"])[group])
    same = [k for k, v in _flat(own).items() if base.get(k, object()) == v]
    assert not same, f"conf/{group}/{preset}.yaml restates defaults: {same}"


@pytest.mark.parametrize("experiment", sorted(f.stem for f in (CONF / "experiment").glob("*.yaml")))
def test_an_experiment_states_only_what_it_changes(experiment):
    own = yaml.safe_load((CONF / "experiment" / f"{experiment}.yaml").read_text())
    groups = [f"{k.split()[-1].lstrip('/')}={v}" for d in own.pop("defaults") for k, v in d.items()]
    without = _flat(_composed(groups))
    same = [k for k, v in _flat(own).items() if without.get(k, object()) == v]
    assert not same, f"conf/experiment/{experiment}.yaml restates what its presets already set: {same}"


def test_every_preset_and_experiment_composes_and_validates():
    for group in (*GROUPS, "experiment"):
        for f in sorted((CONF / group).glob("*.yaml")):
            _typed(_composed([f"{group}={f.stem}"]))


def test_experiment_bundles_set_what_their_names_promise():
    cpu = _typed(_composed(["experiment=nanogpt_cpu"]))
    m, o, t = (getattr(cpu["transformer"], k) for k in ("model", "optim", "train"))
    assert cpu["run"].data.name == "shakespeare" and cpu["run"].data.kind == "stream"
    assert (m.n_layer, m.n_head, m.n_embd, m.block_size, m.dropout, m.bias, m.tie_weights, m.activation) == (
        (4, 4, 128, 64, 0.0, False, True, "gelu")
    )
    assert (t.batch_size, t.max_iters, o.lr, list(o.adam.betas), o.weight_decay, o.grad_clip) == (
        (12, 2000, 1e-3, [0.9, 0.99], 0.1, 1.0)
    )
    assert (o.schedule.name, o.schedule.warmup_iters, o.schedule.min_lr) == ("cosine", 100, 1e-4)
    names = _typed(_composed(["experiment=makemore_names"]))
    g = names["transformer"].model
    assert names["run"].data.name == "names_txt" and (g.n_layer, g.n_head, g.n_embd, g.block_size) == (4, 4, 64, 16)
    wide = _typed(_composed(["experiment=names_10min"]))
    g, t = wide["transformer"].model, wide["transformer"].train
    assert wide["run"].data.name == "names_txt" and (g.n_layer, g.n_head, g.n_embd, g.block_size, g.dropout) == (
        (4, 4, 96, 16, 0.2)
    )
    assert (g.pos, g.activation, t.batch_size, t.max_iters, t.sampling) == ("rope", "relu2", 32, 36000, "epochs")
    assert (t.average.name, t.average.decay, t.average.start) == ("ema", 0.999, 18000)
    shake = _typed(_composed(["experiment=shakespeare_30min"]))
    g, o, t = (getattr(shake["transformer"], k) for k in ("model", "optim", "train"))
    r = shake["rnn"].train
    assert (g.n_layer, g.block_size, t.batch_size, t.max_iters, o.muon.split_qkv, o.muon.ns_coeffs) == (
        (6, 64, 32, 7550, True, "polar_express")
    )
    assert (t.sampling, o.muon.weight_decay, o.muon.cautious_wd, g.lookback.conv.kernel) == ("epochs", 0.1, True, 4)
    assert (r.max_iters, r.average.name, r.average.decay, r.average.start) == (18000, "ema", 0.999, 9000)
    assert shake["rnn"].model.n_hidden == 256
    tiny = _typed(_composed(["experiment=tinylm_2m"]))["transformer"].model
    assert (tiny.n_layer, tiny.n_head, tiny.n_embd, tiny.block_size) == (6, 6, 192, 256)
    micro = _typed(_composed(["experiment=microgpt"]))  # Karpathy's microgpt.py: its sizes and its Adam
    g, o, t = (getattr(micro["transformer"], k) for k in ("model", "optim", "train"))
    assert micro["run"].data.name == "names_txt" and (g.n_layer, g.n_head, g.n_embd, g.block_size) == (1, 4, 16, 16)
    assert (g.norm, g.activation, g.bias, g.tie_weights, g.dropout) == ("rmsnorm", "relu", False, False, 0.0)
    assert (o.name, o.lr, list(o.adam.betas), o.adam.eps, o.weight_decay, o.grad_clip) == (
        ("adam", 0.01, [0.85, 0.99], 1e-8, 0.0, None)
    )
    assert (o.schedule.name, o.schedule.warmup_iters, o.schedule.min_lr) == ("linear", 0, 0.0)
    assert (t.max_iters, t.batch_size, micro["transformer"].sample.temperature) == (1000, 1, 0.5)


def test_the_wavenet_and_bow_presets_are_their_sources():
    """Zero-to-Hero part 5: SGD at 0.1, 0.01 for the last 25% of 200,000 steps; makemore's BoW: AdamW 5e-4."""
    names = _typed(_composed(["experiment=makemore_names"]))
    m, o, t = (getattr(names["wavenet"], k) for k in ("model", "optim", "train"))
    assert (m.context, m.n_embd, m.n_hidden) == (8, 24, 128)
    assert (o.name, o.lr, o.sgd.momentum, o.weight_decay, o.schedule.name, o.schedule.step.gamma, o.grad_clip) == (
        ("sgd", 0.1, 0.0, 0.0, "step", 0.1, None)
    )
    assert (t.max_iters, o.schedule.step.size) == (200_000, 150_000)
    b = _typed(_composed())["bow"]
    assert (b.model.n_embd, b.model.n_hidden, b.model.block_size, b.optim.lr, b.optim.weight_decay) == (
        (64, 64, 16, 5e-4, 0.01)
    )


def test_the_pipeline_is_rungs_of_the_ladder_in_its_order():
    from lmladder.config import ConfigError

    pipeline = validate(_composed()).pipeline
    assert pipeline == [r for r in RUNGS if r in pipeline] and {"bigram", "mlp", "transformer"} <= set(pipeline)
    assert not {"bow", "wavenet"} & set(pipeline)  # full rungs, trained outside the default `dvc repro`
    for bad, why in (("[mlp,nope]", "'nope' is not a rung"), ("[mlp,mlp]", "'mlp' is listed twice")):
        with pytest.raises(ConfigError, match=why):
            validate(_composed([f"pipeline={bad}"]))
