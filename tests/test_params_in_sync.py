"""params.yaml is generated from conf/ by `dvc exp run`; it must never drift from what conf/ composes to."""

from pathlib import Path

import yaml
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from lmladder.config import validate

ROOT = Path(__file__).resolve().parent.parent


def _composed(overrides=()):
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base=None):
        return OmegaConf.to_container(compose(config_name="config", overrides=list(overrides)), resolve=True)


def test_params_yaml_equals_the_default_composition():
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    assert params == _composed(), (
        "params.yaml drifted from conf/: run `dvc exp run` to recompose it (and rerun what changed)"
    )


def test_every_preset_and_experiment_composes_and_validates():
    for group in ("data", "bigram", "mlp", "transformer", "experiment"):
        for f in sorted((ROOT / "conf" / group).glob("*.yaml")):
            validate(_composed([f"{group}={f.stem}"]))


def test_experiment_bundles_set_what_their_names_promise():
    cpu = validate(_composed(["experiment=nanogpt_cpu"]))
    m, o, t = cpu.transformer.model, cpu.transformer.optim, cpu.transformer.train
    assert cpu.data.name == "shakespeare" and cpu.data.kind == "stream"
    assert (m.n_layer, m.n_head, m.n_embd, m.block_size, m.dropout, m.bias, m.tie_weights, m.activation) == (
        4,
        4,
        128,
        64,
        0.0,
        False,
        True,
        "gelu",
    )
    assert (t.batch_size, t.max_iters, o.lr, list(o.betas), o.weight_decay, o.warmup_iters, o.min_lr, o.grad_clip) == (
        12,
        2000,
        1e-3,
        [0.9, 0.99],
        0.1,
        100,
        1e-4,
        1.0,
    )
    names = validate(_composed(["experiment=makemore_names"]))
    assert names.data.name == "names_txt" and names.transformer.model.block_size == 16
    assert (names.transformer.model.n_layer, names.transformer.model.n_head, names.transformer.model.n_embd) == (
        4,
        4,
        64,
    )
    tiny = validate(_composed(["experiment=tinylm_2m"])).transformer.model
    assert (tiny.n_layer, tiny.n_head, tiny.n_embd, tiny.block_size) == (6, 6, 192, 256)
