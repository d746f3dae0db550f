"""Checkpoints of every rung: a checkpoint alone rebuilds the model, samples and scores like the original."""

import numpy as np
import pytest

from lmladder.io import CheckpointError, save_checkpoint
from lmladder.models import build_model
from lmladder.training import load_training_checkpoint, make_rngs, save_training_checkpoint, score_tokens

KW = {
    "ngram": dict(order=3),
    "mlp": dict(context=3, n_embd=4, n_hidden=8),
    "gpt": dict(block_size=16, n_layer=1, n_head=2, n_embd=8),
}


@pytest.mark.parametrize("kind", ["ngram", "mlp", "gpt"])
def test_roundtrip_rebuilds_an_identical_model(kind, tiny_names, tmp_path):
    rngs = make_rngs(0)
    model = build_model(kind, data=tiny_names, rng=rngs["model"], **KW[kind])
    if kind == "ngram":
        model.fit(np.asarray(tiny_names.splits["train"]))
    save_training_checkpoint(
        tmp_path / "m.safetensors", model, tiny_names.tokenizer, rngs=rngs, step=7, extra={"note": "x"}
    )
    ck = load_training_checkpoint(tmp_path / "m.safetensors")
    assert ck.step == 7 and ck.meta["note"] == "x" and type(ck.model) is type(model)
    assert ck.tokenizer.to_dict() == tiny_names.tokenizer.to_dict()
    args = dict(kind="lines", boundary_id=tiny_names.boundary_id)
    val = np.asarray(tiny_names.splits["val"])
    assert score_tokens(ck.model, val, **args) == score_tokens(model, val, **args)


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
