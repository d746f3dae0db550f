"""Training checkpoints that disagree with themselves are refused (every rung's round trip: models/test_contract)."""

import numpy as np
import pytest

from lmladder.checkpoints import load_training_checkpoint, save_training_checkpoint
from lmladder.io import CheckpointError, save_checkpoint
from lmladder.models import build_model
from lmladder.training import make_rngs

KW = {"mlp": dict(context=3, n_embd=4, n_hidden=8)}


def test_arrays_that_disagree_with_the_config_are_refused(tiny_names, tmp_path):
    rngs = make_rngs(0)
    model = build_model("mlp", vocab_size=tiny_names.vocab_size, rng=rngs["model"], **KW["mlp"])
    save_training_checkpoint(tmp_path / "m.safetensors", model, tiny_names.tokenizer, rngs=rngs)
    ck = load_training_checkpoint(tmp_path / "m.safetensors")
    arrays = {f"model.{k}": v for k, v in ck.model.state_dict().items()}
    arrays["model.head.weight"] = np.zeros((3, 3), dtype=np.float32)
    save_checkpoint(tmp_path / "bad.safetensors", arrays, ck.meta)
    fragment = r"arrays do not match the mlp .*model.head.weight is \(3, 3\), the model needs .*restore it or retrain"
    with pytest.raises(CheckpointError, match=fragment):
        load_training_checkpoint(tmp_path / "bad.safetensors")


def test_batchnorm_running_statistics_travel_with_the_weights_and_never_with_the_optimizer(tiny_names, tmp_path):
    from lmladder.io import load_checkpoint
    from lmladder.training import OptimSettings

    rngs = make_rngs(0)
    model = build_model("wavenet", vocab_size=tiny_names.vocab_size, rng=rngs["model"], context=4, n_hidden=8)
    x = np.random.default_rng(1).integers(0, tiny_names.vocab_size, (3, 6))
    model(x, x)  # one training forward moves the running statistics off their initial 0 / 1
    opt = OptimSettings().build(model)
    save_training_checkpoint(tmp_path / "w.safetensors", model, tiny_names.tokenizer, optimizer=opt, rngs=rngs)
    arrays, _ = load_checkpoint(tmp_path / "w.safetensors")
    assert "model.levels.1.norm.running_var" in arrays
    assert not [k for k in arrays if k.startswith("optim.") and "running" in k]
    restored = load_training_checkpoint(tmp_path / "w.safetensors").model
    for k, v in model.state_dict().items():
        assert np.array_equal(restored.state_dict()[k], v), k
    assert not np.array_equal(model.levels[0].norm.running_mean, 0)


def test_non_finite_weights_with_valid_checksums_are_refused_naming_the_tensor(tiny_names, tmp_path):
    from lmladder.io import load_checkpoint

    rngs = make_rngs(0)
    model = build_model("mlp", vocab_size=tiny_names.vocab_size, rng=rngs["model"], **KW["mlp"])
    save_training_checkpoint(tmp_path / "m.safetensors", model, tiny_names.tokenizer, rngs=rngs)
    arrays, meta = load_checkpoint(tmp_path / "m.safetensors")
    arrays["model.head.bias"][:2] = np.nan  # re-saved through save_checkpoint: the checksums are valid
    save_checkpoint(tmp_path / "nan.safetensors", arrays, meta)
    with pytest.raises(CheckpointError, match=r"tensor 'model.head.bias' holds 2 non-finite values \(NaN/inf\)"):
        load_training_checkpoint(tmp_path / "nan.safetensors")
