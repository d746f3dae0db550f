"""The contract every rung of the ladder keeps (models/base.py), checked for each rung in LADDER: a new rung is
tested here without a line of its own (docs/adding-a-rung.md). Gradients, the config schema, checkpoints, sampling
and bitwise resume."""

from dataclasses import asdict, replace

import numpy as np
import pytest

from lmladder import nn
from lmladder.autograd import Tensor, gradcheck, no_grad
from lmladder.autograd import functional as F
from lmladder.data.batching import IGNORE_INDEX
from lmladder.inference import generate, score_splits
from lmladder.io import read_checkpoint_meta
from lmladder.models import ModelConfigError, for_data, model_class
from lmladder.training import OptimSettings, SampleSettings, TrainSettings, load_training_checkpoint, make_rngs, train
from lmladder.training.run import run_rung

from ..ladder import KINDS, small_config

V = 7


def build(kind, dtype=np.float32, seed=0, **overrides):
    cls = model_class(kind)
    return cls(small_config(kind, V, **overrides), rng=np.random.default_rng(seed), dtype=dtype)


def ready(kind):
    """`build(kind)`, fitted when it is a count model: a model that can score."""
    model = build(kind)
    if not model.trainable:
        model.fit(np.random.default_rng(3).integers(0, V, 200))
    return model


def batch(seed, B=2, T=5):
    r = np.random.default_rng(seed)
    return r.integers(0, V, (B, T)), r.integers(0, V, (B, T))


@pytest.mark.parametrize("kind", KINDS)
def test_the_config_is_the_schema(kind):
    cls = model_class(kind)
    cls.Config().check()  # the defaults are valid before the data fields are known
    config = small_config(kind, V)
    assert cls.Config(**asdict(config)) == config  # what a checkpoint stores rebuilds it
    model = build(kind)
    assert model.config == config and model.kind == kind and model.vocab_size == V
    assert cls.min_params(config) <= model.num_parameters()  # checkpoint loading's bound never refuses a real file
    with pytest.raises(ModelConfigError, match="vocab_size=None must be a positive integer"):
        cls(cls.Config(), rng=np.random.default_rng(0))


@pytest.mark.parametrize("kind", KINDS)
def test_forward_speaks_the_contract(kind):
    model = ready(kind)
    x, y = batch(1)
    logits, loss = model(x, y)
    assert logits.shape == (2, 5, V) and loss.data.shape == ()
    assert model(x)[1] is None
    y[0, :] = IGNORE_INDEX  # ignored targets carry no loss
    assert np.isfinite(model(x, y)[1].item())
    if model.block_size is not None:
        with pytest.raises(ModelConfigError, match="crop the context"):
            model(np.zeros((1, model.block_size + 1), dtype=np.int64))


@pytest.mark.parametrize("kind", KINDS)
def test_last_only_is_the_last_position_of_the_full_forward(kind):
    """Sampling asks for the last position only (the head then skips the other T - 1)."""
    model = ready(kind)
    x = np.random.default_rng(6).integers(0, V, (2, 8))
    with no_grad():
        full, last = model(x)[0].data, model(x, last_only=True)[0].data
    assert last.shape == (2, 1, V)
    np.testing.assert_allclose(last, full[:, -1:], rtol=1e-5, atol=1e-6)
    with pytest.raises(ModelConfigError, match=r"give targets \(B, 1\)"):
        model(x, x, last_only=True)


@pytest.mark.parametrize("kind", KINDS)
def test_last_only_with_targets_trains_on_the_last_position(kind):
    """train.targets=last (Zero-to-Hero's random windows): targets (B, 1) score the last position of each row."""
    model = ready(kind)
    model.eval()  # BatchNorm's running statistics, so both calls see the same normalisation
    x = np.random.default_rng(6).integers(0, V, (3, 8))
    y = np.random.default_rng(7).integers(0, V, (3, 1))
    with no_grad():
        full = model(x)[0]
        loss = model(x, y, last_only=True)[1].item()
    want = F.cross_entropy(Tensor(full.data[:, -1:]), y).item()
    np.testing.assert_allclose(loss, want, rtol=1e-5)


@pytest.mark.parametrize("kind", [k for k in KINDS if model_class(k).trainable])
def test_gradcheck_of_the_whole_model(kind):
    model = build(kind, dtype=np.float64)
    r = np.random.default_rng(42)
    for p in model.parameters():  # off the init (zero biases, unit gains, a tiny head) so every path carries signal
        p.data += 0.2 * r.standard_normal(p.shape)
    x, y = batch(2)
    assert gradcheck(lambda: model(x, y)[1], [], params=model.parameters(), name=kind, atol=1e-5)


@pytest.mark.parametrize("kind", KINDS)
def test_no_grad_gives_the_same_bits_and_no_graph(kind):
    model = ready(kind)
    x, y = batch(4)
    logits, loss = model(x, y)
    with no_grad():
        logits2, loss2 = model(x, y)
    assert isinstance(logits2, Tensor) and not logits2.requires_grad
    np.testing.assert_array_equal(logits.data, logits2.data)
    assert loss.item() == loss2.item()


@pytest.mark.parametrize("kind", KINDS)
def test_sampling_is_seeded_and_stays_in_the_vocabulary(kind):
    model = ready(kind)
    prompt = np.zeros((3, 1), dtype=np.int64)
    a = generate(model, prompt, 12, rng=np.random.default_rng(5))
    b = generate(model, prompt, 12, rng=np.random.default_rng(5))
    assert all(np.array_equal(r, s) for r, s in zip(a, b, strict=True))
    assert all(len(r) == 12 and r.min() >= 0 and r.max() < V for r in a)


TRAIN = TrainSettings(
    max_iters=12, batch_size=4, block_size=8, eval_interval=4, eval_iters=2, checkpoint_interval=4, progress=False
)
OPTIM = OptimSettings(lr=3e-3, warmup_iters=2)


def _settings(kind, targets=None) -> TrainSettings:
    """TRAIN, with one random target per row for a model with BatchNorm (which refuses every-position batches)."""
    has_bn = any(isinstance(m, nn.BatchNorm1d) for m in build(kind).modules())
    return replace(TRAIN, targets=targets or ("last" if has_bn else "all"))


def _run(kind, data, out, targets=None, **kw):
    cls = model_class(kind)
    parts = dict(optim=OPTIM, train=_settings(kind, targets)) if cls.trainable else {}
    sample = SampleSettings(num_samples=2, sample_tokens=10)
    config = small_config(kind, V)  # run_rung sets the data fields from `data`
    return run_rung(cls, config, data, sample=sample, **parts, seed=0, out_dir=out, meta={}, log=lambda _: 0, **kw)


@pytest.mark.parametrize("kind", KINDS)
def test_a_run_writes_a_checkpoint_that_alone_rebuilds_the_model(kind, tiny_names, tmp_path):
    m = _run(kind, tiny_names, tmp_path)
    ck = load_training_checkpoint(tmp_path / "model.safetensors")
    assert type(ck.model).kind == kind and ck.model.config.vocab_size == tiny_names.vocab_size
    assert read_checkpoint_meta(tmp_path / "model.safetensors")["model"]["config"] == asdict(ck.model.config)
    assert score_splits(ck.model, tiny_names)["val"] == m["val"]
    assert {"train_time_s", "tokens_per_s"}.isdisjoint((tmp_path / "metrics.json").read_text().split('"'))
    assert (tmp_path / "timing.json").is_file() and (tmp_path / "samples.txt").read_text().strip()


@pytest.mark.parametrize("targets", [None, "last"])
@pytest.mark.parametrize("kind", KINDS)
def test_an_interrupted_and_resumed_run_writes_the_same_bytes(kind, targets, tiny_names, tmp_path):
    """Same seed, same bits: an uninterrupted run and one resumed from its checkpoint write identical files
    (with every position a target, and with one random target per row)."""
    cls = model_class(kind)
    if targets and not cls.trainable:
        pytest.skip("a count model is fitted, not trained on batches")
    _run(kind, tiny_names, tmp_path / "a", targets)
    if cls.trainable:  # the first 4 steps, then stop with a resumable checkpoint, as a kill after it would
        rngs = make_rngs(0)
        model = cls(for_data(small_config(kind, V), tiny_names), rng=rngs["model"])
        settings = _settings(kind, targets)
        train(
            model, tiny_names, optim=OPTIM, settings=settings, rngs=rngs, out_dir=tmp_path / "b", stop_at=4, log=print
        )
        _run(kind, tiny_names, tmp_path / "b", targets, resume=tmp_path / "b" / "model.safetensors")
    else:
        _run(kind, tiny_names, tmp_path / "b")
    files = sorted(p.name for p in (tmp_path / "a").iterdir() if p.name != "timing.json")
    assert files == sorted(p.name for p in (tmp_path / "b").iterdir() if p.name != "timing.json")
    for name in files:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
