"""Weight averaging (train.average; training/average.py): its arithmetic against a hand computation, over set
weights and over real training steps; the averaged weights are the ones evaluated, scored, sampled, saved as the
model and exported; buffers are the trained model's own."""

import json

import numpy as np
import pandas as pd
import pytest
from safetensors.numpy import load_file

from lmladder.checkpoints import load_training_checkpoint, save_training_checkpoint
from lmladder.export import export
from lmladder.inference.sampling import sample_text
from lmladder.inference.scoring import score_splits
from lmladder.io import load_checkpoint
from lmladder.models import build_model, rung_class
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
from lmladder.training.average import AverageSettings, WeightAverage

from ..ladder import small_config

OPTIM = OptimSettings(lr=3e-3, schedule=ScheduleSettings(warmup_iters=5, min_lr=3e-4))
KW = dict(context=3, n_embd=8, n_hidden=32, dropout=0.1)
STEPS, START = 12, 5


def _mlp(data, seed=0):
    rngs = make_rngs(seed)
    return build_model("mlp", data=data, rng=rngs["model"], **KW), rngs


def _settings(**kw):
    s = dict(max_iters=STEPS, batch_size=8, seq_len=16, eval=EvalSettings(interval=4, iters=2),
             checkpoint=CheckpointSettings(interval=4), grad_stats_interval=10, progress=False)  # fmt: skip
    return TrainSettings(**{**s, **kw})


def _train(data, out, stop_at=None, resume=None, **kw):
    model, rngs = _mlp(data)
    train(model, data, optim=OPTIM, train=_settings(**kw), rngs=rngs, out_dir=out, stop_at=stop_at, resume=resume,
          log=lambda *_: None)  # fmt: skip
    return model


def _hand(weights: list[np.ndarray], decays) -> np.ndarray:
    """The documented rule in float64: a = w0, then a = d a + (1 - d) w for each later w."""
    a = weights[0].astype(np.float64)
    for k, w in enumerate(weights[1:], start=1):
        d = decays(k)
        a = d * a + (1 - d) * w.astype(np.float64)
    return a


RULES = {
    "ema": (dict(name="ema", decay=0.7), lambda k: 0.7),
    "ema-warmup": (dict(name="ema", decay=0.7, warmup=True), lambda k: min(0.7, (1 + k) / (10 + k))),
    "swa": (dict(name="swa"), lambda k: k / (k + 1)),
}


@pytest.mark.parametrize("rule", RULES)
def test_the_average_follows_its_rule_from_the_start_step(rule, tiny_names):
    kw, decays = RULES[rule]
    model, _ = _mlp(tiny_names)
    avg = WeightAverage(model, AverageSettings(start=2, **kw))
    rng = np.random.default_rng(0)
    seen = {name: [] for name, _ in model.named_parameters()}
    for step in range(6):  # weights "after" six steps; the first two come before the start
        for name, p in model.named_parameters():
            p.data[...] = rng.normal(size=p.data.shape).astype(np.float32)
            seen[name].append(p.data.copy())
        avg.after_step(step)
    assert avg.count == 4
    for name, a in avg.by_name().items():
        assert a.dtype == np.float32
        np.testing.assert_allclose(a, _hand(seen[name][2:], decays), rtol=2e-6, atol=2e-6)
    if rule == "swa":  # the plain mean of the four weights averaged
        np.testing.assert_allclose(avg.by_name()["head.weight"], np.mean(seen["head.weight"][2:], axis=0), atol=2e-6)


def test_the_model_is_the_average_only_while_scored(tiny_names):
    model, _ = _mlp(tiny_names)
    avg = WeightAverage(model, AverageSettings(name="ema", decay=0.5))
    with avg.scored():  # nothing averaged yet: the trained weights
        pass
    avg.after_step(0)
    for p in model.parameters():
        p.data += 1.0
    avg.after_step(1)  # a = (w + (w + 1)) / 2 = w + 0.5
    trained = [p.data.copy() for p in model.parameters()]
    with avg.scored():
        for p, t in zip(model.parameters(), trained, strict=True):
            np.testing.assert_allclose(p.data, t - 0.5, atol=1e-6)
    for p, t in zip(model.parameters(), trained, strict=True):
        assert np.array_equal(p.data, t)  # back bit for bit


def test_training_averages_the_weights_after_each_step(tiny_names, tmp_path):
    """Averaging leaves training alone: the EMA run's trained weights are the plain run's, bit for bit, and its
    model weights are the hand-computed EMA of the plain run's weights after each step from START on."""
    plain, after = tmp_path / "plain", []
    for k in range(1, STEPS + 1):  # the plain run, stopped after every step (resume is bitwise exact)
        _train(tiny_names, plain, stop_at=k, resume=plain / "model.safetensors" if k > 1 else None)
        after.append(load_checkpoint(plain / "model.safetensors")[0])
    _train(tiny_names, tmp_path / "ema", average=AverageSettings(name="ema", decay=0.6, start=START))
    arrays, meta = load_checkpoint(tmp_path / "ema" / "model.safetensors")
    assert meta["average"] == {"ema": 0.6, "swa": False, "start": START, "warmup": False, "count": STEPS - START}
    names = [k[6:] for k in after[-1] if k.startswith("model.")]
    assert names and sorted(k[8:] for k in arrays if k.startswith("trained.")) == sorted(names)
    for name in names:
        assert np.array_equal(arrays[f"trained.{name}"], after[-1][f"model.{name}"])
        hand = _hand([w[f"model.{name}"] for w in after[START:]], lambda k: 0.6)
        np.testing.assert_allclose(arrays[f"model.{name}"], hand, rtol=1e-5, atol=1e-6)
        assert not np.array_equal(arrays[f"model.{name}"], arrays[f"trained.{name}"])
    ck = load_training_checkpoint(tmp_path / "ema" / "model.safetensors")  # what every reader gets: the average
    for name, p in ck.model.named_parameters():
        assert np.array_equal(p.data, arrays[f"model.{name}"])


def test_buffers_are_the_trained_models_own(tmp_path):
    """BatchNorm's running statistics are not averaged: the checkpoint's model takes the trained model's."""
    config = small_config("wavenet", vocab_size=7)
    model = rung_class("wavenet")(config, rng=np.random.default_rng(0))
    from lmladder.data import CharTokenizer

    tok = CharTokenizer.build("abcdef\n")
    buffers = {k: v for k, v in model.state_dict().items() if k not in dict(model.named_parameters())}
    assert buffers, "the wavenet has BatchNorm buffers"
    for v in buffers.values():
        v += 0.25
    average = {name: p.data + 1.0 for name, p in model.named_parameters()}
    save_training_checkpoint(tmp_path / "m.safetensors", model, tok, average=average)
    ck = load_training_checkpoint(tmp_path / "m.safetensors")
    state = ck.model.state_dict()
    for k, v in buffers.items():
        assert np.array_equal(state[k], v)
    for name, p in model.named_parameters():
        assert np.array_equal(state[name], average[name]) and np.array_equal(ck.trained[name], p.data)


@pytest.fixture(scope="module")
def ema_gpt(tiny_stream, tmp_path_factory):
    """A tiny GPT's whole run (run_rung) with an EMA from step 6 of 16."""
    out = tmp_path_factory.mktemp("ema_gpt")
    config = small_config("transformer", tiny_stream.vocab_size, block_size=16, n_embd=16)
    average = AverageSettings(name="ema", decay=0.8, start=6)
    s = _settings(
        max_iters=16,
        seq_len=16,
        eval=EvalSettings(interval=4, iters=2),
        checkpoint=CheckpointSettings(interval=8),
        average=average,
    )
    run = Run(rung_class("transformer"), config, tiny_stream, sample=SampleSettings(num_samples=2, sample_tokens=20),
              optim=OptimSettings(lr=1e-2), train=s, seed=0, out_dir=out, meta={}, log=lambda _: 0)  # fmt: skip
    metrics = run_rung(run)
    return run, metrics


def _trained_model(path):
    """The checkpoint's model with its trained weights put back (what the average was made from)."""
    ck = load_training_checkpoint(path)
    for name, p in ck.model.named_parameters():
        p.data[...] = ck.trained[name]
    return ck.model


def test_the_average_is_what_is_scored_and_sampled(ema_gpt):
    run, metrics = ema_gpt
    out, data = run.out_dir, run.data
    averaged = load_training_checkpoint(out / "model.safetensors").model
    exact = score_splits(averaged, data, run.eval_batch_size)
    assert metrics["val"] == exact["val"]  # bit for bit: the same weights, the same scoring
    assert json.loads((out / "metrics.json").read_text())["val"] == exact["val"]
    trained = score_splits(_trained_model(out / "model.safetensors"), data, run.eval_batch_size)
    assert trained["val"]["nll"] != exact["val"]["nll"]
    texts = sample_text(averaged, data, make_rngs(0)["sample"], num_samples=2, sample_tokens=20)
    written = (out / "samples.txt").read_text()
    assert all(t in written for t in texts)


def test_the_estimates_and_the_best_checkpoint_are_the_averages(ema_gpt):
    run, _ = ema_gpt
    log = pd.read_csv(run.out_dir / "eval_log.tsv", sep="\t")
    assert list(log.columns) == ["step", "train_loss", "val_loss", "raw_val_loss"]
    before = log["step"] <= 6  # the estimates at steps 0 and 4 precede the average (from the weights after step 6)
    assert (log.val_loss[before] == log.raw_val_loss[before]).all()
    assert (log.val_loss[~before] != log.raw_val_loss[~before]).all()
    best = load_checkpoint(run.out_dir / "best.safetensors")[1]
    assert f"{best['best_val']:.6g}" == f"{log.val_loss.min():.6g}"
    assert best["best_step"] == int(log.step[log.val_loss.idxmin()])


def test_export_writes_the_averaged_weights(ema_gpt, tmp_path):
    pytest.importorskip("tokenizers")
    run, _ = ema_gpt
    export(run.out_dir / "model.safetensors", "hf", tmp_path / "hf")
    hf = load_file(str(tmp_path / "hf" / "model.safetensors"))
    arrays, _ = load_checkpoint(run.out_dir / "model.safetensors")
    wte = next(v for k, v in hf.items() if k.endswith("wte.weight"))
    assert np.array_equal(wte, arrays["model.wte.weight"])
    assert not np.array_equal(wte, arrays["trained.wte.weight"])
