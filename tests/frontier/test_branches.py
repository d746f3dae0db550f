"""Cool-down branches (the preset's `branches:`): which points branch from which stable run and where, the schedule
fact they rest on, the preset's checks, and a branch seeded from its trunk's snapshot that trains into the separate
run of its budget, to the bit. The whole plan -> run -> kill -> run -> fit path: test_branches_e2e.py."""

import json
import math

import pytest

from lmladder.frontier.branches import (
    check_schedule,
    cooldown_start,
    describe,
    launch_phases,
    own_tokens,
    with_branches,
)
from lmladder.frontier.plan import Size, make_points, reference_point
from lmladder.frontier.preset import Branches, FrontierError, parse_preset
from lmladder.frontier.study import RUNS
from lmladder.models import build_model
from lmladder.models.base import Counts
from lmladder.nn.schedules import ScheduleSettings, WarmupStableDecay, WsdSettings
from lmladder.training import CheckpointSettings, EvalSettings, OptimSettings, TrainSettings, make_rngs, train
from lmladder.training.snapshots import snapshot_files

GOOD = {
    "name": "t",
    "budgets": {"flops": [1e9, 1e10]},
    "branches": {"cooldown_frac": 0.2},
    "rungs": {"transformer": {"sizes": {"n_embd": [16, 32]}}},
}


def size(hidden, params=500, flops_per_token=1000):
    counts = Counts(params, params, params // 6, flops_per_token)
    config = {"rung": "mlp", "mlp": {"train": {"max_iters": 1, "checkpoint": {"interval": 1, "snapshots": []}}}}
    return Size("mlp", {"n_hidden": hidden}, counts, 100.0, 0, config)


@pytest.mark.parametrize("frac", [0.1, 0.2, 0.25, 0.4, 0.9])
def test_a_longer_wsd_run_has_the_same_rates_up_to_the_cooldown_start(frac):
    """The fact branches rest on: every step before cooldown_start(N) runs at the same rate in a run of N steps and
    in any longer one (warmup included); the next step already differs where the cool-down has 2 steps or more."""
    for n in (1, 2, 3, 7, 10, 33, 100, 101):
        k = cooldown_start(frac, n)
        short = WarmupStableDecay(lr=0.01, total=n, min_lr=0.001, warmup=3, cooldown_frac=frac)
        assert 0 <= k < n and k == short.cooldown_start
        for longer in (n, n + 1, 2 * n + 5, 10 * n):
            long = WarmupStableDecay(lr=0.01, total=longer, min_lr=0.001, warmup=3, cooldown_frac=frac)
            assert [short(t) for t in range(k + 1)] == [long(t) for t in range(k + 1)]
        if n - k >= 2 and k + 1 >= 3:  # past the warmup, in a cool-down of 2 steps or more
            long = WarmupStableDecay(lr=0.01, total=10 * n + 100, min_lr=0.001, warmup=3, cooldown_frac=frac)
            assert short(k + 1) < long(k + 1) == long(k) == short(k)  # the peak rate


def test_each_size_and_seed_branches_from_its_largest_budget():
    sizes = [size(8), size(800, params=50_000)]
    points = make_points(sizes, {"flops": (1e7, 1e8, 1e9)}, {"mlp": (0, 1)}, {"mlp": (2.5, 1e6)})
    points.append(reference_point("bigram", {"rung": "bigram"}, 0))
    out = with_branches(points, 0.25)
    by_id = {p.id: p for p in out}
    for s in (0, 1):
        trunk = by_id[f"mlp_n_hidden8_1e09flops_s{s}"]  # 1e9 / (1000 x 100) = 10,000 steps
        assert trunk.trunk is None and trunk.config["mlp"]["train"]["checkpoint"]["snapshots"] == [75, 750]
        assert (by_id[f"mlp_n_hidden8_1e07flops_s{s}"].trunk, by_id[f"mlp_n_hidden8_1e07flops_s{s}"].branch_step) == (
            trunk.id, 75)  # fmt: skip
        assert by_id[f"mlp_n_hidden8_1e08flops_s{s}"].branch_step == 750
        big = by_id[f"mlp_n_hidden800_1e09flops_s{s}"]  # its other budgets lie outside the band: no branch
        assert big.trunk is None and big.config == points[[p.id for p in points].index(big.id)].config
    assert by_id["ref_bigram_s0"] == points[-1]
    assert [p.id for p in out] == [p.id for p in points]  # the plan's order kept
    assert describe(out, 0.25) == (
        "branches: 4 cool-downs (0.25 of their steps) from 2 stable runs; 40,550 steps trained instead of 42,200 (96%)"
    )
    branch = by_id["mlp_n_hidden8_1e08flops_s0"].as_dict()
    assert own_tokens(branch) == pytest.approx(250 * 100.0) and own_tokens(trunk.as_dict()) == 10_000 * 100.0


def test_a_budget_whose_cooldown_would_start_at_step_0_runs_on_its_own():
    points = make_points([size(8)], {"flops": (1e5, 1e6)}, {"mlp": (0,)})  # 1 and 10 steps
    out = with_branches(points, 0.5)
    assert [(p.max_iters, p.trunk) for p in out] == [(1, None), (10, None)]
    assert out[1].config == points[1].config  # no snapshot to keep


def test_the_branches_setting_is_read():
    assert parse_preset(GOOD, "p.yaml").branches == Branches(0.2)
    assert parse_preset({k: v for k, v in GOOD.items() if k != "branches"}, "p.yaml").branches is None


@pytest.mark.parametrize(
    "value, problem",
    [
        ({"cooldown_frac": 0}, r"branches.cooldown_frac=0 must be a number in \(0, 1\)"),
        ({"cooldown_frac": 1}, r"branches.cooldown_frac=1 must be a number in \(0, 1\)"),
        ({"cooldown_frac": True}, r"branches.cooldown_frac=True must be a number"),
        ({"cooldown_frac": math.nan}, r"branches.cooldown_frac=nan must be a number"),
        ({}, r"branches.cooldown_frac=None must be a number"),
        ({"cooldown_frac": 0.2, "shape": "sqrt"}, r"branches.shape is not a setting of branches"),
        ([0.2], r"branches is list, not a mapping with cooldown_frac:"),
    ],
)
def test_bad_branches_say_what_and_how_to_fix(value, problem):
    with pytest.raises(FrontierError, match=problem):
        parse_preset({**GOOD, "branches": value}, "p.yaml")


def wsd(frac: float, **kw) -> OptimSettings:
    return OptimSettings(lr=3e-3, schedule=ScheduleSettings(name="wsd", wsd=WsdSettings(cooldown_frac=frac), **kw))


def test_branches_need_a_wsd_schedule_that_ends_at_each_budget():
    check_schedule("mlp", wsd(0.3), 0.3, "p.yaml")
    cosine = r"rungs.mlp trains on the cosine schedule; add mlp.optim.schedule.name=wsd"
    with pytest.raises(FrontierError, match=cosine):
        check_schedule("mlp", OptimSettings(schedule=ScheduleSettings(name="cosine")), 0.2, "p.yaml")
    with pytest.raises(FrontierError, match=r"rungs.mlp sets optim.schedule.decay_iters, so its cool-down would not"):
        check_schedule("mlp", wsd(0.2, decay_iters=50), 0.2, "p.yaml")
    with pytest.raises(FrontierError, match=r"rungs.mlp cools down over 0.3 of its steps, not the branches' 0.2"):
        check_schedule("mlp", wsd(0.3), 0.2, "p.yaml")


OPTIM = wsd(0.25, warmup_iters=4, min_lr=3e-4)
GPT = dict(block_size=16, n_layer=1, n_head=2, n_embd=16, dropout=0.1)


def trained(data, out, steps, resume=None, snapshots=()):
    rngs = make_rngs(3)
    model = build_model("transformer", data=data, rng=rngs["model"], **GPT)
    s = TrainSettings(max_iters=steps, batch_size=8, eval=EvalSettings(interval=steps, iters=3), progress=False,
                      checkpoint=CheckpointSettings(interval=9, snapshots=list(snapshots)))  # fmt: skip
    train(model, data, optim=OPTIM, train=s, rngs=rngs, out_dir=out, resume=resume, log=lambda *_: None)


def test_a_branch_is_seeded_from_its_trunk_and_trains_into_the_separate_run(tiny_names, tmp_path):
    """launch_phases: the trunk first; then the branch's folder seeded with the trunk's snapshot (checkpoint, best,
    timing) and logs; trained on from there it is the separate 32-step run, byte for byte. A branch whose trunk has
    not reached its step waits; one whose finished trunk lost its snapshot trains from step 0."""
    study = tmp_path / "study"
    k = cooldown_start(0.25, 32)
    assert k == 24
    points = [{"id": "b", "trunk": "t", "branch_step": k, "max_iters": 32}, {"id": "t", "max_iters": 50}]
    plan = {"points": points}
    said = []
    phases = launch_phases(study, plan, ["b", "t"], log=said.append)
    assert next(phases) == ["t"]
    trained(tiny_names, study / RUNS / "t", 50, snapshots=[k])  # what the first launch does
    assert next(phases) == ["b"] and not said
    branch = study / RUNS / "b"
    logs = sorted(f.name for f in (study / RUNS / "t").glob("*.tsv"))
    assert {"train_log.tsv", "eval_log.tsv", "grad_stats.tsv", "health_act.tsv"} <= set(logs)
    assert sorted(f.name for f in branch.iterdir()) == sorted(["best.safetensors", "model.safetensors", "timing.json",
                                                               *logs])  # fmt: skip
    snap = snapshot_files(study / RUNS / "t", k)
    assert (branch / "model.safetensors").read_bytes() == snap["model.safetensors"].read_bytes()
    seeded = json.loads((branch / "timing.json").read_text())
    assert seeded["step"] == k and seeded["train_time_s"] > 0
    trained(tiny_names, branch, 32, resume=branch / "model.safetensors")
    trained(tiny_names, tmp_path / "alone", 32)
    for f in ("model.safetensors", "best.safetensors", *logs):
        assert (branch / f).read_bytes() == (tmp_path / "alone" / f).read_bytes(), f
    timing = json.loads((branch / "timing.json").read_text())
    assert timing["train_time_s"] > seeded["train_time_s"] and "timed_from_step" not in timing
    # seeded once: a rerun launches it as it is (its own checkpoint now)
    assert list(launch_phases(study, plan, ["b"])) == [["b"]]

    for f in snap.values():
        f.unlink()
    plan = {"points": [{"id": "c", "trunk": "t", "branch_step": k, "max_iters": 32}, *points]}
    assert list(launch_phases(study, plan, ["c"], log=said.append)) == []
    assert said == ["[frontier] 1 branch(es) wait for their stable run to reach their step (it did not finish)"]
    (study / RUNS / "t" / "metrics.json").write_text("{}")  # finished, without its snapshot
    assert list(launch_phases(study, plan, ["c"], log=said.append)) == [["c"]]
    assert "t has no snapshot at step 24: c trains from 0" in said[-1] and not (study / RUNS / "c").exists()


def test_a_plan_whose_branch_has_no_trunk_is_refused(tmp_path):
    plan = {"points": [{"id": "b", "trunk": "gone", "branch_step": 5, "max_iters": 8}]}
    with pytest.raises(FrontierError, match=r"point b branches from 'gone' at step 5, not a point and step of this"):
        list(launch_phases(tmp_path, plan, ["b"]))


def test_a_branched_study_launches_its_longest_runs_first(tmp_path):
    """The branches wait for every other point: those go longest first (largest budget, then most steps), so the
    last of them is short and two jobs at once end together; the branches after them keep the plan's order."""
    points = [
        {"id": "small", "budget": 1e10, "max_iters": 900},
        {"id": "big_model", "budget": 1e12, "max_iters": 100},
        {"id": "small_model", "budget": 1e12, "max_iters": 5000},
        {"id": "b2", "trunk": "small_model", "branch_step": 10, "max_iters": 50},
        {"id": "b1", "trunk": "small_model", "branch_step": 5, "max_iters": 20},
        {"id": "ref", "budget": None, "max_iters": None},
    ]
    phases = launch_phases(tmp_path, {"points": points}, [p["id"] for p in points])
    assert next(phases) == ["small_model", "big_model", "small", "ref"]
    unbranched = [p for p in points if "trunk" not in p]
    assert next(launch_phases(tmp_path, {"points": unbranched}, ["small", "big_model"])) == ["small", "big_model"]
