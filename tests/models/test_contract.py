"""The contract every rung keeps (models/base.py), checked for each model file of lmladder/models (tests/ladder.py):
a new rung is tested here without a line of its own (docs/adding-a-rung.md). The ladder itself, gradients, the config
schema, checkpoints (this format and the one before), sampling and bitwise resume."""

from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import pytest

from lmladder import models, nn
from lmladder.autograd import Tensor, gradcheck, no_grad
from lmladder.autograd import functional as F
from lmladder.checkpoints import KIND_RUNGS, load_training_checkpoint, save_training_checkpoint
from lmladder.data.batching import IGNORE_INDEX
from lmladder.inference import generate, score_splits
from lmladder.io import load_checkpoint, read_checkpoint_meta, save_checkpoint
from lmladder.models import ModelConfigError, for_data, ladder, rung_class, rungs
from lmladder.models.base import LanguageModel
from lmladder.nn.schedules import ScheduleSettings
from lmladder.training import (
    CheckpointSettings,
    EvalSettings,
    OptimSettings,
    Run,
    SampleSettings,
    TrainSettings,
    make_rngs,
    run_rung,
    train,
)

from ..ladder import RUNGS, small_config

V = 7


def build(rung, dtype=np.float32, seed=0, **overrides):
    cls = rung_class(rung)
    return cls(small_config(rung, V, **overrides), rng=np.random.default_rng(seed), dtype=dtype)


def ready(rung):
    """`build(rung)`, fitted when it is a count model: a model that can score."""
    model = build(rung)
    if not model.trainable:
        model.fit(np.random.default_rng(3).integers(0, V, 200))
    return model


def batch(seed, B=2, T=5):
    r = np.random.default_rng(seed)
    return r.integers(0, V, (B, T)), r.integers(0, V, (B, T))


def test_the_ladder_is_the_model_files():
    """Each module of lmladder/models but base and the helpers (<rung>_<part>.py) is the rung it is named after."""
    files = {p.stem for p in Path(models.__file__).parent.glob("*.py")} - {"__init__", "base"}
    assert set(rungs()) == {f for f in files if not any(f.startswith(f"{o}_") for o in files)}
    assert {"bigram", "mlp", "rnn", "transformer"} <= set(rungs())
    assert [rung_class(r).rung for r in ladder()] == ladder()
    assert ladder().index("bigram") < ladder().index("mlp") < ladder().index("transformer")  # bottom to top
    positions = {r: rung_class(r).ladder_position for r in ladder()}
    assert len(set(positions.values())) == len(positions), f"two rungs share a ladder_position: {positions}"
    with pytest.raises(TypeError, match=r"define it in lmladder/models/toy.py"):
        type("Toy", (LanguageModel,), {"rung": "toy", "ladder_position": 1})
    with pytest.raises(ModelConfigError, match=r"unknown rung 'gpt'; choose one of bigram, "):
        rung_class("gpt")  # a kind is not a rung


@pytest.mark.parametrize("rung", RUNGS)
def test_the_config_is_the_schema(rung):
    cls = rung_class(rung)
    cls.Config().check()  # the defaults are valid before the data fields are known
    config = small_config(rung, V)
    assert cls.Config(**asdict(config)) == config  # what a checkpoint stores rebuilds it
    model = build(rung)
    assert model.config == config and model.rung == rung and model.vocab_size == V
    assert cls.min_params(config) <= model.num_parameters()  # checkpoint loading's bound never refuses a real file
    with pytest.raises(ModelConfigError, match="vocab_size=None must be a positive integer"):
        cls(cls.Config(), rng=np.random.default_rng(0))


@pytest.mark.parametrize("rung", RUNGS)
def test_forward_speaks_the_contract(rung):
    model = ready(rung)
    x, y = batch(1)
    logits, loss = model(x, y)
    assert logits.shape == (2, 5, V) and loss.data.shape == ()
    assert model(x)[1] is None
    y[0, :] = IGNORE_INDEX  # ignored targets carry no loss
    assert np.isfinite(model(x, y)[1].item())
    if model.block_size is not None:
        with pytest.raises(ModelConfigError, match="crop the context"):
            model(np.zeros((1, model.block_size + 1), dtype=np.int64))


@pytest.mark.parametrize("rung", RUNGS)
def test_last_only_is_the_last_position_of_the_full_forward(rung):
    """Sampling asks for the last position only (the head then skips the other T - 1)."""
    model = ready(rung)
    x = np.random.default_rng(6).integers(0, V, (2, 8))
    with no_grad():
        full, last = model(x)[0].data, model(x, last_only=True)[0].data
    assert last.shape == (2, 1, V)
    np.testing.assert_allclose(last, full[:, -1:], rtol=1e-5, atol=1e-6)
    with pytest.raises(ModelConfigError, match=r"give targets \(B, 1\)"):
        model(x, x, last_only=True)


@pytest.mark.parametrize("rung", RUNGS)
def test_last_only_with_targets_trains_on_the_last_position(rung):
    """train.targets=last (Zero-to-Hero's random windows): targets (B, 1) score the last position of each row."""
    model = ready(rung)
    model.eval()  # BatchNorm's running statistics, so both calls see the same normalisation
    x = np.random.default_rng(6).integers(0, V, (3, 8))
    y = np.random.default_rng(7).integers(0, V, (3, 1))
    with no_grad():
        full = model(x)[0]
        loss = model(x, y, last_only=True)[1].item()
    want = F.cross_entropy(Tensor(full.data[:, -1:]), y).item()
    np.testing.assert_allclose(loss, want, rtol=1e-5)


@pytest.mark.parametrize("rung", [r for r in RUNGS if rung_class(r).trainable])
def test_gradcheck_of_the_whole_model(rung):
    model = build(rung, dtype=np.float64)
    r = np.random.default_rng(42)
    for p in model.parameters():  # off the init (zero biases, unit gains, a tiny head) so every path carries signal
        p.data += 0.2 * r.standard_normal(p.shape)
    x, y = batch(2)
    assert gradcheck(lambda: model(x, y)[1], [], params=model.parameters(), name=rung, atol=1e-5)


@pytest.mark.parametrize("rung", RUNGS)
def test_no_grad_gives_the_same_bits_and_no_graph(rung):
    model = ready(rung)
    x, y = batch(4)
    logits, loss = model(x, y)
    with no_grad():
        logits2, loss2 = model(x, y)
    assert isinstance(logits2, Tensor) and not logits2.requires_grad
    np.testing.assert_array_equal(logits.data, logits2.data)
    assert loss.item() == loss2.item()


@pytest.mark.parametrize("rung", RUNGS)
def test_sampling_is_seeded_and_stays_in_the_vocabulary(rung):
    model = ready(rung)
    prompt = np.zeros((3, 1), dtype=np.int64)
    a = generate(model, prompt, 12, rng=np.random.default_rng(5))
    b = generate(model, prompt, 12, rng=np.random.default_rng(5))
    assert all(np.array_equal(r, s) for r, s in zip(a, b, strict=True))
    assert all(len(r) == 12 and r.min() >= 0 and r.max() < V for r in a)


TRAIN = TrainSettings(
    max_iters=12,
    batch_size=4,
    seq_len=8,
    eval=EvalSettings(interval=4, iters=2),
    checkpoint=CheckpointSettings(interval=4),
    progress=False,
)
OPTIM = OptimSettings(lr=3e-3, schedule=ScheduleSettings(warmup_iters=2))


def _settings(rung, targets=None) -> TrainSettings:
    """TRAIN, with one random target per row for a model with BatchNorm (which refuses every-position batches)."""
    has_bn = any(isinstance(m, nn.BatchNorm1d) for m in build(rung).modules())
    return replace(TRAIN, targets=targets or ("last" if has_bn else "all"))


def _run(rung, data, out, targets=None, **kw):
    cls = rung_class(rung)
    parts = dict(optim=OPTIM, train=_settings(rung, targets)) if cls.trainable else {}
    sample = SampleSettings(num_samples=2, sample_tokens=10)
    config = small_config(rung, V)  # the Run sets the data fields from `data`
    return run_rung(Run(cls, config, data, sample=sample, **parts, seed=0, out_dir=out, meta={}, log=lambda _: 0, **kw))


@pytest.mark.parametrize("rung", RUNGS)
def test_a_run_writes_a_checkpoint_that_alone_rebuilds_the_model(rung, tiny_names, tmp_path):
    m = _run(rung, tiny_names, tmp_path)
    ck = load_training_checkpoint(tmp_path / "model.safetensors")
    assert type(ck.model).rung == rung and ck.model.config.vocab_size == tiny_names.vocab_size
    assert read_checkpoint_meta(tmp_path / "model.safetensors")["model"]["config"] == asdict(ck.model.config)
    assert score_splits(ck.model, tiny_names)["val"] == m["val"]
    assert {"train_time_s", "tokens_per_s"}.isdisjoint((tmp_path / "metrics.json").read_text().split('"'))
    assert (tmp_path / "timing.json").is_file() and (tmp_path / "samples.txt").read_text().strip()


@pytest.mark.parametrize("targets", [None, "last"])
@pytest.mark.parametrize("rung", RUNGS)
def test_an_interrupted_and_resumed_run_writes_the_same_bytes(rung, targets, tiny_names, tmp_path):
    """Same seed, same bits: an uninterrupted run and one resumed from its checkpoint write identical files
    (with every position a target, and with one random target per row)."""
    cls = rung_class(rung)
    if targets and not cls.trainable:
        pytest.skip("a count model is fitted, not trained on batches")
    _run(rung, tiny_names, tmp_path / "a", targets)
    if cls.trainable:  # the first 4 steps, then stop with a resumable checkpoint, as a kill after it would
        rngs = make_rngs(0)
        model = cls(for_data(small_config(rung, V), tiny_names), rng=rngs["model"])
        settings = _settings(rung, targets)
        train(model, tiny_names, optim=OPTIM, train=settings, rngs=rngs, out_dir=tmp_path / "b", stop_at=4, log=print)
        _run(rung, tiny_names, tmp_path / "b", targets, resume=tmp_path / "b" / "model.safetensors")
    else:
        _run(rung, tiny_names, tmp_path / "b")
    files = sorted(p.name for p in (tmp_path / "a").iterdir() if p.name != "timing.json")
    assert files == sorted(p.name for p in (tmp_path / "b").iterdir() if p.name != "timing.json")
    for name in files:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


@pytest.mark.parametrize("rung", RUNGS)
def test_a_checkpoint_of_format_2_names_its_model_by_kind_and_still_loads(rung, tiny_names, tmp_path):
    """Format 2 (the format before this one) stored the model as {kind, config}: "ngram" and "gpt" were the
    bigram's and the transformer's kinds (lmladder.checkpoints.KIND_RUNGS), every other kind its rung's name."""
    model = rung_class(rung)(for_data(small_config(rung), tiny_names), rng=np.random.default_rng(0))
    if not model.trainable:
        model.fit(tiny_names.splits["train"])
    path = tmp_path / "model.safetensors"
    save_training_checkpoint(path, model, tiny_names.tokenizer, step=3, extra={"seed": 0})
    arrays, meta = load_checkpoint(path)
    assert meta["version"] == 3 and meta["model"]["rung"] == rung
    kind = next((k for k, r in KIND_RUNGS.items() if r == rung), rung)
    meta = {**meta, "version": 2, "model": {"kind": kind, "config": meta["model"]["config"]}}
    save_checkpoint(path, arrays, meta)
    ck = load_training_checkpoint(path)
    assert type(ck.model) is type(model) and ck.model.config == model.config and ck.step == 3
    for name, a in model.state_dict().items():
        np.testing.assert_array_equal(ck.model.state_dict()[name], a)
