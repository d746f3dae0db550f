"""Bad-input cases of cool-down branches (issue 73: a frontier preset's `branches:`, and train.checkpoint.snapshots,
the snapshots they start from): the same contract as cases.py, appended to CASES, each at the end of its group of
docs/errors.md. Files: branches_files.py."""

from __future__ import annotations

from .case_kit import F, case

BR = f"{F}/branches"

BRANCHES = [
    case("frontier-branches-not-wsd", "frontier", "cli", ["frontier", "plan", f"{BR}/not_wsd.yaml"],
         r"branches need every rung on the warmup-stable-decay schedule, and rungs.mlp trains on the cosine",
         r"add mlp.optim.schedule.name=wsd to rungs.mlp.overrides, or remove branches:"),
    case("frontier-branches-decay-iters", "frontier", "cli", ["frontier", "plan", f"{BR}/decay_iters.yaml"],
         r"rungs.mlp sets optim.schedule.decay_iters, so its cool-down would not end at each budget's last step",
         r"remove that override to use branches"),
    case("frontier-branches-cooldown-frac", "frontier", "cli", ["frontier", "plan", f"{BR}/frac_too_big.yaml"],
         r"branches.cooldown_frac=1.5 must be a number in \(0, 1\), the share of each budget's steps spent cooling",
         r"e.g. 0.2"),
    case("frontier-branches-unknown-key", "frontier", "cli", ["frontier", "plan", f"{BR}/unknown_key.yaml"],
         r"branches.cooldown is not a setting of branches", r"the key is cooldown_frac"),
    case("frontier-branches-not-a-mapping", "frontier", "cli", ["frontier", "plan", f"{BR}/not_a_mapping.yaml"],
         r"branches is float, not a mapping with cooldown_frac:", r"see conf/frontier/names.yaml"),
    case("config-snapshot-step-past-the-end", "config", "mlp", ["mlp.train.checkpoint.snapshots=[5,20]"],
         r"checkpoint.snapshots=\[5, 20\] holds 20, outside \[1, mlp.train.max_iters=20\)",
         r"drop it, or raise max_iters"),
]  # fmt: skip
