"""Checkpoints written before settings became groups (issue 71: the GPT's look-backs and mtp, the LSTM's
forget_bias; tests/fixtures/*/README.md) load into today's configs, score to the NLL they scored then, sample the
same ids with and without the cache, export to the same bytes or are refused as then, and resume to the same
weights (bit for bit where the machine's digest is recorded: tests/machine.py); the one model no config describes
now (bigram_embed with ngram_embed: two tables of order 2) is refused in one line."""

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from lmladder import fast
from lmladder.checkpoints import load_training_checkpoint
from lmladder.export import ExportError, export
from lmladder.inference.sampling import generate
from lmladder.inference.scoring import score_splits
from lmladder.io import CheckpointError
from lmladder.io.outputs import MARKER
from lmladder.models.rnn import LSTMConfig
from lmladder.models.transformer_config import ConvConfig, LookbackConfig, MtpConfig, NgramEmbedConfig, SmearConfig
from lmladder.training import (
    CheckpointSettings,
    EvalSettings,
    OptimSettings,
    Run,
    SampleSettings,
    TrainSettings,
    run_rung,
)
from tests.machine import digest_here

ROOT = Path(__file__).resolve().parents[1] / "fixtures"
FIXTURES = {"lookback": "gpt", "bigram": "gpt", "bigram_ngram": "gpt", "gpt2": "gpt", "lstm": "rnn"}  # file: folder
EXPECTED = {k: v for d in ("gpt", "rnn") for k, v in json.loads((ROOT / d / "expected.json").read_text()).items()}
LOADED = ["lookback", "bigram", "gpt2", "lstm"]
GROUPS = {  # what each file's flat fields are now
    "lookback": dict(
        lookback=LookbackConfig(SmearConfig(True, 4), NgramEmbedConfig(3, 256), ConvConfig(3, "ac")),
        mtp=MtpConfig(2, 0.5),
    ),
    "bigram": dict(lookback=LookbackConfig(SmearConfig(True, None), NgramEmbedConfig(2, 8192)), mtp=MtpConfig(0, 0.3)),
    "gpt2": dict(lookback=LookbackConfig(), mtp=MtpConfig(1, 0.3)),
    "lstm": dict(lstm=LSTMConfig(0.5)),
}


# the fixtures' NLLs were summed in float32 by 1be2a14; exact scoring sums the same per-token scores in float64
# since (tests/inference/test_scoring.py): the totals agree to float32 round-off of a sum, no closer
SUM_ROUNDOFF = dict(rel=1e-7, abs=0)


def _path(name):
    return ROOT / FIXTURES[name] / f"{name}.safetensors"


def _ck(name):
    return load_training_checkpoint(_path(name))


@pytest.mark.parametrize("name", LOADED)
def test_an_old_checkpoint_loads_as_its_groups_and_scores_the_same_nll(name, names_prepared):
    ck = _ck(name)
    assert {k: getattr(ck.model.config, k) for k in GROUPS[name]} == GROUPS[name]
    scores = score_splits(ck.model, names_prepared, 32)
    assert scores["val"]["nll"] == pytest.approx(EXPECTED[name]["val_nll"], **SUM_ROUNDOFF)
    assert scores["test"]["nll"] == pytest.approx(EXPECTED[name]["test_nll"], **SUM_ROUNDOFF)


@pytest.mark.parametrize("name", LOADED)
def test_an_old_checkpoint_samples_the_same_ids_with_and_without_the_cache(name):
    model = _ck(name).model
    for cache, key in ((True, "samples_cached"), (False, "samples_uncached")):
        rows = generate(model, np.zeros((2, 1), np.int64), 24, rng=np.random.default_rng(7), use_cache=cache)
        assert np.stack(list(rows)).tolist() == EXPECTED[name][key], key


@pytest.mark.parametrize("name", ["lookback", "bigram", "gpt2"])
@pytest.mark.parametrize("to", ["hf", "gguf"])
def test_an_old_checkpoint_exports_to_the_same_bytes_or_is_refused_as_before(name, to, tmp_path):
    pytest.importorskip("tokenizers")
    pytest.importorskip("gguf")
    then = EXPECTED[name][f"export_{to}"]
    out = tmp_path / (f"{name}-hf" if to == "hf" else f"{name}.gguf")
    if not then["exported"]:
        with pytest.raises(ExportError, match=f"--to {to} writes GPT-2's layout, which cannot express"):
            export(_path(name), to, out)
        assert not out.exists()
        return
    export(_path(name), to, out)
    files = sorted(f for f in out.iterdir() if f.name != MARKER) if out.is_dir() else [out]  # the marker is newer
    assert {f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in files} == then["sha256"]


@pytest.mark.parametrize("name", LOADED)
def test_an_old_checkpoint_resumes_to_the_same_weights(name, names_prepared, tmp_path):
    ck = _ck(name)
    train = TrainSettings(max_iters=30, batch_size=8, seq_len=16, eval=EvalSettings(interval=10, iters=2),
                          checkpoint=CheckpointSettings(interval=10), progress=False, dvclive=False,
                          health_interval=0)  # fmt: skip
    run = Run(type(ck.model), ck.model.config, names_prepared, seed=0, out_dir=tmp_path / "run", train=train,
              optim=OptimSettings(lr=0.01), sample=SampleSettings(num_samples=2, sample_tokens=20),
              resume=_path(name), log=lambda _: 0)  # fmt: skip
    metrics = run_rung(run)
    weights = load_training_checkpoint(tmp_path / "run" / "model.safetensors").model.state_dict()
    older = {new: old for old, new in type(ck.model).renamed_weights(ck.meta["model"]["config"]).items()}
    weights = {older.get(k, k): w for k, w in weights.items()}  # sorted by the names they had then
    digest = hashlib.sha256(b"".join(weights[k].tobytes() for k in sorted(weights))).hexdigest()
    then = EXPECTED[name]["resumed_to_30"]
    then_digest = digest_here(then["weights_sha256"])  # taken with the compiled kernels
    if then_digest is not None and fast.backend() == "compiled":
        assert digest == then_digest  # the weights: bit for bit on the machine they were taken on
    assert metrics["val"]["nll"] == pytest.approx(then["val_nll"], **SUM_ROUNDOFF)


def test_an_old_checkpoint_with_two_tables_of_order_two_is_refused_in_one_line():
    with pytest.raises(CheckpointError) as e:
        _ck("bigram_ngram")
    message = str(e.value)
    assert "\n" not in message
    assert "bigram_ngram.safetensors: its GPT has bigram_embed=true and ngram_embed=3" in message
    assert message.endswith("retrain it with transformer.model.lookback.ngram.order=3 (its rows of order 2 are the "
                            "bigram embedding)")  # fmt: skip
