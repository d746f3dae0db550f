"""Files the cases of cases_bounds.py read (issue 70: sizes a user gives, bounded before any work), under the
sandbox's frontier/bounds/: presets with one thing wrong each (a billion laughs of YAML aliases, a duplicate key, a
huge calibration, a budget of 1e30 FLOPs, a tokens_per_param band that keeps nothing, a zero budget), a study whose
seconds budgets were timed on another CPU, and a sweep whose job's .hydra/config.yaml is a billion laughs."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from lmladder.frontier.study import write_plan

OTHER_CPU = "an imaginary CPU 9000"


def laughs(levels: int = 5) -> str:
    """YAML of ~300 bytes whose aliases expand to 10 ** levels strings (the "billion laughs" of XML, in YAML)."""
    lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


def build_bounds(root: Path) -> None:
    d = root / "frontier" / "bounds"
    d.mkdir(parents=True)
    corpus = ["data.source=file", f"data.path={root}/corpora/names.txt", f"paths.prepared={root}/data/prepared"]
    good = {
        "name": "bounds",
        "overrides": corpus,
        "seeds": [0],
        "budgets": {"flops": [1.0e9]},
        "rungs": {"mlp": {"overrides": ["mlp.optim.schedule.warmup_iters=0"], "sizes": {"n_hidden": [32]}}},
    }
    presets = {
        "calibration_huge": {**good, "calibration_steps": 1_000_000_000},
        "budget_huge": {**good, "budgets": {"flops": [1.0e30]}},
        "band_keeps_nothing": {**good, "tokens_per_param": [1.0e6, 1.0e7]},
        "budget_zero": {**good, "budgets": {"flops": 0}},
        "rung_band_one_number": {**good, "rungs": {"mlp": {**good["rungs"]["mlp"], "tokens_per_param": [1000]}}},
        "rung_band_keeps_nothing": {**good, "rungs": {"mlp": {**good["rungs"]["mlp"], "tokens_per_param": [1e6, 1e7]}}},
    }
    for name, preset in presets.items():
        (d / f"{name}.yaml").write_text(yaml.safe_dump(preset, sort_keys=False))
    (d / "laughs.yaml").write_text("name: laughs\n" + laughs())
    (d / "duplicate_key.yaml").write_text(yaml.safe_dump(good, sort_keys=False) + "name: again\n")
    point = {"id": "mlp_n_hidden32_30s_s0", "rung": "mlp", "size": "n_hidden=32", "seed": 0, "kind": "seconds",
             "budget": 30.0, "max_iters": 1000, "config": {}}  # fmt: skip
    calibration = {"cpu": OTHER_CPU, "cores": 96, "platform": "Linux", "steps": 30}
    write_plan(d / "timed_elsewhere", {"source": "conf/frontier/names.yaml", "calibration": calibration,
                                       "points": [point], "train_tokens": 1000})  # fmt: skip
    job = d / "laughs_sweep" / "0"
    shutil.copytree(root / "runs" / "good", job)
    (job / ".hydra" / "config.yaml").write_text(laughs())
