"""What the `lmladder frontier` cases of cases.py read: presets with one thing wrong each, a study folder already
planned, a finished run on another corpus (Tiny Shakespeare) to mix into a fit of the names runs, and a copy of the
good run whose metrics.json was cut short."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from lmladder.frontier.study import write_plan


def build_frontier(root: Path, train) -> None:
    """Under root/frontier; `train(rung, overrides, run_dir)` runs a stage in the sandbox (harness.run_in_process)."""
    d = root / "frontier"
    d.mkdir()
    corpus = ["data.source=file", f"data.path={root}/corpora/names.txt", f"paths.prepared={root}/data/prepared"]
    good = {
        "name": "ok",
        "overrides": corpus,
        "seeds": [0],
        "budgets": {"flops": [1.0e9]},
        "rungs": {"mlp": {"overrides": ["mlp.optim.schedule.warmup_iters=0"], "sizes": {"n_hidden": [32]}}},
    }
    presets = {
        "ok": good,
        "unknown_rung": {**good, "rungs": {"gpt": {"sizes": {"n_embd": [32]}}}},
        "unknown_size_field": {**good, "rungs": {"mlp": {"sizes": {"n_hiden": [32]}}}},
        "budget_too_small": {**good, "budgets": {"flops": [1000.0]}},
    }
    for name, preset in presets.items():
        (d / f"{name}.yaml").write_text(yaml.safe_dump(preset, sort_keys=False))
    write_plan(d / "planned", {"points": [], "train_tokens": 0})
    shakespeare = [f"data.path={root}/corpora/shakespeare.txt", "data.kind=stream", "data.fractions=[0.9,0.1]"]
    train("bigram", [*shakespeare, "bigram.sample.num_samples=1"], str(d / "other_corpus"))
    broken = d / "broken_metrics" / "0"
    shutil.copytree(root / "runs" / "good", broken)
    (broken / "metrics.json").write_text('{"val": {"nll": 2.1, "ppl"')  # cut short (an editor, a full disk)
