"""The training loop: learning happens, logs and checkpoints are written, resume is bitwise exact."""

import math

import numpy as np
import pandas as pd
import pytest

from lmladder.io import load_checkpoint
from lmladder.models import build_model
from lmladder.nn.schedules import ScheduleSettings
from lmladder.training import (
    CheckpointSettings,
    EvalSettings,
    OptimSettings,
    TrainingError,
    TrainSettings,
    make_rngs,
    train,
)
from lmladder.training.average import AverageSettings


def settings(**kw):
    base = dict(
        max_iters=40,
        batch_size=8,
        seq_len=16,
        eval=EvalSettings(interval=10, iters=3),
        checkpoint=CheckpointSettings(interval=10),
        grad_stats_interval=10,
        progress=False,
    )
    base.update(kw)
    return TrainSettings(**base)


OPTIM = OptimSettings(lr=3e-3, schedule=ScheduleSettings(warmup_iters=5, min_lr=3e-4))
MODELS = {
    "mlp": dict(context=3, n_embd=8, n_hidden=32, dropout=0.1),
    "transformer": dict(block_size=16, n_layer=2, n_head=2, n_embd=16, dropout=0.1),
}


def build(rung, data, seed=0):
    rngs = make_rngs(seed)
    model = build_model(rung, data=data, rng=rngs["model"], **MODELS[rung])
    return model, rngs


def run(rung, data, out, stop_at=None, resume=None, seed=0, **kw):
    model, rngs = build(rung, data, seed)
    train(
        model,
        data,
        optim=OPTIM,
        train=settings(**kw),
        rngs=rngs,
        out_dir=out,
        stop_at=stop_at,
        resume=resume,
        log=lambda *_: None,
    )
    return model


def straight_and_resumed(rung, data, tmp_path, **kw):
    """One 40-step run straight through, and one stopped at step 20 and resumed: their final checkpoints and
    train logs must be the same bytes. Returns the straight run's folder."""
    straight, split = tmp_path / "straight", tmp_path / "split"
    run(rung, data, straight, **kw)
    run(rung, data, split, stop_at=20, **kw)
    run(rung, data, split, resume=split / "model.safetensors", **kw)
    a, meta_a = load_checkpoint(straight / "model.safetensors")
    b, meta_b = load_checkpoint(split / "model.safetensors")
    assert sorted(a) == sorted(b) and meta_a["step"] == meta_b["step"] == 40
    for k in a:
        assert a[k].tobytes() == b[k].tobytes(), k
    assert (straight / "train_log.tsv").read_bytes() == (split / "train_log.tsv").read_bytes()
    return straight


@pytest.mark.parametrize("rung", ["mlp", "transformer"])
def test_loss_goes_down_and_files_are_written(rung, tiny_names, tmp_path):
    run(rung, tiny_names, tmp_path)
    log = pd.read_csv(tmp_path / "train_log.tsv", sep="\t")
    assert list(log.columns) == ["step", "lr", "loss", "grad_norm"]  # no wall clock: a rerun writes the same bytes
    assert log["step"].tolist() == list(range(40))
    ev = pd.read_csv(tmp_path / "eval_log.tsv", sep="\t")
    assert ev["step"].tolist() == [0, 10, 20, 30, 40]
    assert ev["val_loss"].iloc[-1] < ev["val_loss"].iloc[0] - 0.3
    stats = pd.read_csv(tmp_path / "grad_stats.tsv", sep="\t")
    assert set(stats["step"]) == {0, 10, 20, 30} and (stats["grad_norm"] > 0).all()
    assert (tmp_path / "model.safetensors").exists() and (tmp_path / "best.safetensors").exists()


AVERAGES = {  # weight averaging (training/average.py): the interruption at step 20 comes before or after its start
    "no-average": {},
    "ema-from-25": dict(average=AverageSettings(name="ema", decay=0.9, start=25)),
    "ema-warmup-from-10": dict(average=AverageSettings(name="ema", decay=0.95, warmup=True, start=10)),
    "swa-from-5": dict(average=AverageSettings(name="swa", start=5)),
}


@pytest.mark.parametrize("average", AVERAGES)
@pytest.mark.parametrize("rung", ["mlp", "transformer"])
def test_resume_is_bitwise_identical_with_dropout(rung, average, tiny_names, tmp_path):
    straight, kw = tmp_path / "straight", AVERAGES[average]
    run(rung, tiny_names, straight, **kw)
    split = tmp_path / "split"
    run(rung, tiny_names, split, stop_at=20, **kw)
    run(rung, tiny_names, split, resume=split / "model.safetensors", **kw)
    a, meta_a = load_checkpoint(straight / "model.safetensors")
    b, meta_b = load_checkpoint(split / "model.safetensors")
    assert sorted(a) == sorted(b) and any(k.startswith("optim.exp_avg_sq.") for k in a)
    assert any(k.startswith("trained.") for k in a) == bool(kw) and meta_a.get("average") == meta_b.get("average")
    for k in a:
        assert a[k].tobytes() == b[k].tobytes(), k
    assert meta_a["rng_states"] == meta_b["rng_states"] and meta_a["step"] == meta_b["step"] == 40
    # the logs of the two runs are the same bytes (they hold no wall-clock column), and so is the best checkpoint
    for name in ("train_log.tsv", "eval_log.tsv", "grad_stats.tsv", "best.safetensors"):
        assert (straight / name).read_bytes() == (split / name).read_bytes(), name


def test_same_seed_same_bits_and_other_seed_differs(tiny_stream, tmp_path):
    m1 = run("transformer", tiny_stream, tmp_path / "a", max_iters=6)
    m2 = run("transformer", tiny_stream, tmp_path / "b", max_iters=6)
    m3 = run("transformer", tiny_stream, tmp_path / "c", max_iters=6, seed=1)
    for (_, p1), (_, p2) in zip(m1.named_parameters(), m2.named_parameters(), strict=True):
        assert p1.data.tobytes() == p2.data.tobytes()
    assert not np.array_equal(m1.wte.weight.data, m3.wte.weight.data)


def test_refuses_to_overwrite_an_existing_checkpoint(tiny_names, tmp_path):
    run("mlp", tiny_names, tmp_path, max_iters=5)
    before = (tmp_path / "model.safetensors").read_bytes()
    with pytest.raises(TrainingError, match="already exists; pass resume=true"):
        run("mlp", tiny_names, tmp_path, max_iters=5)
    assert (tmp_path / "model.safetensors").read_bytes() == before


def test_resume_with_another_config_is_refused(tiny_names, tmp_path):
    run("mlp", tiny_names, tmp_path / "a", max_iters=5)
    rngs = make_rngs(0)
    other = build_model("mlp", vocab_size=tiny_names.vocab_size, rng=rngs["model"], context=4, n_embd=8, n_hidden=32)
    fragment = "cannot resume .* its model has context=3, dropout=0.1, this run asks for context=4, dropout=0.0"
    with pytest.raises(TrainingError, match=fragment):
        train(
            other,
            tiny_names,
            optim=OPTIM,
            train=settings(),
            rngs=rngs,
            out_dir=tmp_path / "b",
            resume=tmp_path / "a" / "model.safetensors",
            log=lambda *_: None,
        )


def test_non_finite_loss_stops_with_step_and_parameter(tiny_names, tmp_path):
    model, rngs = build("mlp", tiny_names)
    model.head.bias.data[3] = np.inf  # a poisoned weight: every loss from here on is non-finite
    with pytest.raises(
        TrainingError,
        match=r"non-finite loss nan .* at step 0 \(parameter 'head.bias' weights are non-finite\).*lower lr=",
    ):
        train(model, tiny_names, optim=OPTIM, train=settings(), rngs=rngs, out_dir=tmp_path, log=lambda *_: None)


def test_bounded_number_of_nonfinite_steps_can_be_skipped(tiny_names, tmp_path):
    model, rngs = build("mlp", tiny_names)
    skipped = []
    real_forward = type(model).forward
    calls = {"n": 0}

    def flaky_forward(self, idx, targets=None, **kw):  # the 3rd and 5th training batches produce a NaN loss
        logits, loss = real_forward(self, idx, targets, **kw)
        if targets is not None and self.training:
            calls["n"] += 1
            if calls["n"] in (3, 5):
                loss = loss * np.float32(np.nan)
        return logits, loss

    type(model).forward = flaky_forward
    try:
        train(
            model,
            tiny_names,
            optim=OPTIM,
            train=settings(max_nonfinite=2),
            rngs=rngs,
            out_dir=tmp_path,
            log=skipped.append,
        )
    finally:
        type(model).forward = real_forward
    assert sum("skipped a non-finite update" in m for m in skipped) == 2
    assert all(np.isfinite(p.data).all() for p in model.parameters())


def test_gradient_accumulation_matches_one_big_batch_in_expectation(tiny_stream, tmp_path):
    # two micro-batches of 4 give the mean of their losses as the logged loss, and training still works
    m = run("mlp", tiny_stream, tmp_path, max_iters=10, batch_size=4, grad_accum=2)
    log = pd.read_csv(tmp_path / "train_log.tsv", sep="\t")
    assert len(log) == 10 and all(math.isfinite(v) for v in log["loss"])
    assert m.num_parameters() > 0
