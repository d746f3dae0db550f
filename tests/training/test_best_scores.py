"""The best checkpoint's exact scores (metrics.json's `best`): scored again only when it is not the final model."""

import json

import lmladder.training.run as run_module
from lmladder.checkpoints import load_training_checkpoint
from lmladder.inference.scoring import score_splits
from lmladder.models import rung_class
from lmladder.training import CheckpointSettings, EvalSettings, OptimSettings, Run, SampleSettings, TrainSettings

from ..ladder import small_config


def _run(data, out, *, eval_interval: int) -> dict:
    train = TrainSettings(max_iters=8, batch_size=4, seq_len=8, eval=EvalSettings(interval=eval_interval, iters=1),
                          checkpoint=CheckpointSettings(interval=8), progress=False)  # fmt: skip
    config = small_config("transformer", data.vocab_size, block_size=8, n_embd=16)
    run = Run(rung_class("transformer"), config, data, sample=SampleSettings(num_samples=0, sample_tokens=1),
              optim=OptimSettings(lr=3e-3), train=train, seed=0, out_dir=out, meta={}, log=lambda _: 0)  # fmt: skip
    return run_module.run_rung(run)


def test_a_best_checkpoint_at_the_last_step_takes_the_final_scores_without_scoring_again(tiny_stream, tmp_path,
                                                                                         monkeypatch):  # fmt: skip
    calls = []
    monkeypatch.setattr(run_module, "score_splits", lambda *a, **k: calls.append(a) or score_splits(*a, **k))
    metrics = _run(tiny_stream, tmp_path / "run", eval_interval=8)  # evaluated at 0 and 8: the loss fell, best = 8
    assert metrics["best"]["step"] == metrics["step"] == 8 and not calls
    best = load_training_checkpoint(tmp_path / "run" / "best.safetensors").model
    exact = score_splits(best, tiny_stream)  # what scoring it again gives: the same bits
    assert metrics["best"]["val"] == exact["val"] == metrics["val"]
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["best"]["val"] == exact["val"]


def test_an_earlier_best_checkpoint_is_scored_itself(tiny_stream, tmp_path, monkeypatch):
    monkeypatch.setattr(run_module.Trainer, "evaluate", _best_at_first(run_module.Trainer.evaluate))
    metrics = _run(tiny_stream, tmp_path / "run", eval_interval=4)
    assert metrics["best"]["step"] == 0 < metrics["step"]
    best = load_training_checkpoint(tmp_path / "run" / "best.safetensors").model
    assert metrics["best"]["val"] == score_splits(best, tiny_stream)["val"] != metrics["val"]


def _best_at_first(evaluate):
    """Trainer.evaluate whose first estimate is the best of the run (later ones are not saved as best)."""

    def first_only(self, step):
        evaluate(self, step)
        self.best_val = -1.0 if step == 0 else self.best_val

    return first_only
