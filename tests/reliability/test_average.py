"""Resuming a run that averages its weights (train.average): a checkpoint whose average another setting made,
or that should hold one and does not, is refused with the setting to use; a file whose record and arrays disagree is
refused as tampered; the settings' bad values are cases_average.py's (test_bad_input.py runs them)."""

import pytest

from lmladder.io import CheckpointError, load_checkpoint, save_checkpoint
from lmladder.models import build_model
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
from lmladder.training.loop import LAST

OPTIM = OptimSettings(lr=3e-3)
KW = dict(context=3, n_embd=8, n_hidden=32)


def ema_from(start: int) -> dict:
    return {"average": AverageSettings(name="ema", decay=0.9, start=start)}


EMA = ema_from(5)


def _train(data, out, resume=None, stop_at=None, **kw):
    rngs = make_rngs(0)
    model = build_model("mlp", data=data, rng=rngs["model"], **KW)
    s = TrainSettings(**{**dict(max_iters=20, batch_size=8, seq_len=16, eval=EvalSettings(interval=10, iters=2),
                                checkpoint=CheckpointSettings(interval=10), progress=False), **kw})  # fmt: skip
    train(model, data, optim=OPTIM, train=s, rngs=rngs, out_dir=out, resume=resume, stop_at=stop_at,
          log=lambda *_: None)  # fmt: skip


@pytest.fixture(scope="module")
def averaged(tiny_names, tmp_path_factory):
    """A checkpoint at step 10 of a run that averages its weights from step 5."""
    out = tmp_path_factory.mktemp("averaged")
    _train(tiny_names, out, stop_at=10, **EMA)
    return out / LAST


@pytest.mark.parametrize(
    "settings, problem",
    [
        (dict(name="ema", decay=0.99, start=5), r"its model is an EMA \(average.name=ema, average.decay=0.9, "
         r"average.warmup=false\) of the trained weights from average.start=5, this run asks for an EMA "
         r"\(average.name=ema, average.decay=0.99, average.warmup=false\)"),
        (dict(name="ema", decay=0.9, start=5, warmup=True), r"this run asks for an EMA \(.*average.warmup=true\)"),
        (dict(name="swa", start=5), r"this run asks for the mean \(average.name=swa\) of the trained weights"),
        (dict(name="ema", decay=0.9, start=8), r"this run asks for .* from average.start=8"),
        ({}, r"its model is an EMA .*, this run averages no weights"),
    ],
)  # fmt: skip
def test_another_average_is_refused(settings, problem, averaged, tiny_names, tmp_path):
    fix = r"resume with average.name=ema, average.decay=0.9, average.warmup=false, average.start=5, or start a new run"
    with pytest.raises(TrainingError, match=rf"cannot resume from .*: .*{problem}.*; {fix}"):
        _train(tiny_names, tmp_path, resume=averaged, **({"average": AverageSettings(**settings)} if settings else {}))


def test_an_average_that_should_have_started_is_refused(tiny_names, tmp_path):
    _train(tiny_names, tmp_path / "plain", stop_at=10)
    with pytest.raises(TrainingError, match=r"at step 10 and holds no average of its weights, and this run averages "
                       r"them from average.start=9; set average.start >= 10"):  # fmt: skip
        _train(tiny_names, tmp_path / "b", resume=tmp_path / "plain" / LAST, **ema_from(9))


def test_an_average_may_start_at_the_checkpoint(tiny_names, tmp_path):
    """A plain run's checkpoint at step 10 continued with an average from step 10 is the run that averaged from
    step 10 all along, bit for bit."""
    _train(tiny_names, tmp_path / "straight", **ema_from(10))
    _train(tiny_names, tmp_path / "split", stop_at=10)
    _train(tiny_names, tmp_path / "split", resume=tmp_path / "split" / LAST, **ema_from(10))
    assert (tmp_path / "split" / LAST).read_bytes() == (tmp_path / "straight" / LAST).read_bytes()


def _edited(path, out, edit):
    arrays, meta = load_checkpoint(path)
    edit(arrays, meta)
    save_checkpoint(out, arrays, meta)  # checksums made anew: only lmladder's own checks can tell
    return out


@pytest.mark.parametrize(
    "edit, problem",
    [
        (lambda a, m: [a.pop(k) for k in list(a) if k.startswith("trained.")], r"it holds no trained weights beside "
         r"an average of 5 steps"),
        (lambda a, m: m["average"].update(count=0), r"it holds trained weights beside an average of 0 steps"),
        (lambda a, m: m["average"].update(count="6"), r"its weight-average record is malformed"),
        (lambda a, m: m.update(average=[0.9]), r"its weight-average record is malformed"),
        (lambda a, m: a.pop("trained.head.bias"), r"its trained. weights are not one of each parameter of its model"),
        (lambda a, m: a.update({"trained.head.bias": a["trained.head.bias"][:-1]}), r"its trained. weights are not"),
    ],
)  # fmt: skip
def test_a_record_that_disagrees_with_the_arrays_is_refused(edit, problem, averaged, tiny_names, tmp_path):
    bad = _edited(averaged, tmp_path / "bad.safetensors", edit)
    with pytest.raises(CheckpointError, match=rf"bad.safetensors: {problem}.*; the file was modified"):
        _train(tiny_names, tmp_path / "run", resume=bad, **EMA)
