"""Checkpoints written before the optimizer and training settings were nested (tests/fixtures/settings_1be2a14: a
Muon GPT, an EMA + teacher MLP, an SWA + SGD GRU, each stopped half-way) load, score to the val NLL lmladder
1be2a14 gave them, and resume under the nested settings to the bits 1be2a14's resumed run ended with."""

import hashlib
import json
from pathlib import Path

import pytest

from lmladder import fast
from lmladder.checkpoints import load_training_checkpoint
from lmladder.config import RENAMED, merge
from lmladder.inference.scoring import score_splits
from lmladder.io import load_checkpoint
from lmladder.models import build_model
from lmladder.training import OptimSettings, TrainSettings, make_rngs, train
from tests.machine import digest_here

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "settings_1be2a14"
MADE = json.loads((FIXTURES / "made.json").read_text())


# the fixtures' NLLs were summed in float32 by 1be2a14; exact scoring sums the same per-token scores in float64
# since (tests/inference/test_scoring.py): the totals agree to float32 round-off of a sum, no closer
SUM_ROUNDOFF = dict(rel=1e-7, abs=0)


def nested(part: str, flat: dict) -> dict:
    """A run's flat settings of made.json moved to their new keys by config.RENAMED (train.ema: average.decay, with
    average.name=ema as its message says; train.swa=true: average.name=swa)."""
    out: dict = {}
    for key, value in flat.items():
        new = RENAMED.get(f"{part}.{key}", (f"{part}.{key}",))[0]
        new, _, given = new.partition("=")
        moves = [(new, given or value)] + ([(f"{part}.average.name", "ema")] if key == "ema" else [])
        for path, v in moves:
            *blocks, leaf = path.split(".")[1:]
            node = out
            for b in blocks:
                node = node.setdefault(b, {})
            node[leaf] = v
    return out


def settings(name: str) -> tuple[OptimSettings, TrainSettings]:
    run = MADE["runs"][name]
    optim = merge(OptimSettings, nested("optim", run["optim"]))
    train_settings = merge(TrainSettings, nested("train", run["train"]))
    optim.check()
    train_settings.check()
    return optim, train_settings


def digest(path: Path) -> str:
    """made.json's digest: sha256 over every array of a checkpoint, sorted by name (name, dtype, shape, bytes)."""
    arrays, _ = load_checkpoint(path)
    h = hashlib.sha256()
    for k in sorted(arrays):
        h.update(k.encode() + arrays[k].dtype.str.encode() + str(arrays[k].shape).encode() + arrays[k].tobytes())
    return h.hexdigest()


def expected(name: str) -> dict:
    return MADE["runs"][name]["expected"][fast.backend()]


@pytest.mark.parametrize("name", sorted(MADE["runs"]))
def test_an_old_checkpoint_loads_and_scores_as_before(name, tiny_names):
    ck = load_training_checkpoint(FIXTURES / MADE["runs"][name]["file"])
    assert ck.step == MADE["runs"][name]["stopped_at"]
    assert score_splits(ck.model, tiny_names)["val"]["nll"] == pytest.approx(expected(name)["val_nll"], **SUM_ROUNDOFF)


@pytest.mark.parametrize("name", sorted(MADE["runs"]))
def test_an_old_checkpoint_resumes_under_the_nested_settings_to_the_same_bits(name, tiny_names, tmp_path):
    run = MADE["runs"][name]
    optim, train_settings = settings(name)
    rngs = make_rngs(run["seed"])
    model = build_model(run["rung"], data=tiny_names, rng=rngs["model"], **run["model"])
    resume = FIXTURES / run["file"]
    train(model, tiny_names, optim=optim, train=train_settings, rngs=rngs, out_dir=tmp_path, resume=resume,
          log=lambda *_: None)  # fmt: skip
    if (then := digest_here(expected(name)["final_digest"])) is not None:  # bits: on the machine they were taken on
        assert digest(tmp_path / "model.safetensors") == then
    assert score_splits(model, tiny_names)["val"]["nll"] == pytest.approx(
        expected(name)["final_val_nll"], **SUM_ROUNDOFF
    )
