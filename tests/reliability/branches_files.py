"""Files the cases of cases_branches.py read: presets with cool-down branches (docs/frontier.md) and one thing wrong
each, under the sandbox's frontier/branches/."""

from __future__ import annotations

from pathlib import Path

import yaml


def build_branches(root: Path) -> None:
    d = root / "frontier" / "branches"
    d.mkdir(parents=True)
    corpus = ["data.source=file", f"data.path={root}/corpora/names.txt", f"paths.prepared={root}/data/prepared"]
    wsd = ["mlp.optim.schedule.warmup_iters=0", "mlp.optim.schedule.name=wsd"]
    good = {
        "name": "branches",
        "overrides": corpus,
        "seeds": [0],
        "budgets": {"flops": [1.0e9, 3.0e9]},
        "branches": {"cooldown_frac": 0.2},
        "rungs": {"mlp": {"overrides": wsd, "sizes": {"n_hidden": [32]}}},
    }
    presets = {
        "not_wsd": {**good, "rungs": {"mlp": {"overrides": wsd[:1], "sizes": {"n_hidden": [32]}}}},
        "decay_iters": {
            **good,
            "rungs": {"mlp": {"overrides": [*wsd, "mlp.optim.schedule.decay_iters=50"], "sizes": {"n_hidden": [32]}}},
        },
        "frac_too_big": {**good, "branches": {"cooldown_frac": 1.5}},
        "unknown_key": {**good, "branches": {"cooldown": 0.2}},
        "not_a_mapping": {**good, "branches": 0.2},
    }
    for name, preset in presets.items():
        (d / f"{name}.yaml").write_text(yaml.safe_dump(preset, sort_keys=False))
