"""A study's grid: the preset's checks, tokens per step against the batches the trainer really draws, steps from
budgets, the study folder's point configs and launch commands, and the shipped presets."""

import json
import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf

from lmladder.data import DataConfig, load_prepared, prepare
from lmladder.frontier.plan import Size, make_points, steps_for, tokens_per_step, train_targets
from lmladder.frontier.preset import FrontierError, parse_preset
from lmladder.frontier.study import GROUP, launch_argv, load_plan, point_state, stage_points, write_plan
from lmladder.models.base import Counts
from lmladder.training.batches import Batcher

from ..shared_data import shared_file

ROOT = Path(__file__).resolve().parents[2]
GOOD = {
    "name": "t",
    "seeds": [0, 1],
    "budgets": {"flops": [1e9, 1e10]},
    "rungs": {"mlp": {"sizes": {"n_hidden": [16, 32, 64]}}, "transformer": {"sizes": {"n_embd": [16, 32, 48]}}},
    "reference": {"bigram": ["bigram=kneser_ney"]},
}


@pytest.fixture(scope="module")
def names(tmp_path_factory):
    out = tmp_path_factory.mktemp("names")
    prepare(DataConfig(source="file", path=str(shared_file("names.txt"))), out)
    return load_prepared(out)


def test_train_targets_of_names_match_the_known_split(names):
    assert train_targets(names) == 182_625  # DESIGN.md: names' 80% split, end tokens counted


@pytest.mark.parametrize("seq_len", [16, 4])
def test_tokens_per_step_is_what_the_batches_train_on(names, seq_len):
    """The expectation against the mean of 400 batches the trainer draws (long names cropped at seq_len=4)."""
    b = Batcher(names, "train", 32, seq_len)
    rng = np.random.default_rng(0)
    drawn = np.mean([int((b.sample(rng)[1] >= 0).sum()) for _ in range(400)])
    want = tokens_per_step(names, batch_size=32, seq_len=seq_len, grad_accum=1, last=False)
    assert abs(drawn - want) / want < 0.02
    assert tokens_per_step(names, batch_size=32, seq_len=seq_len, grad_accum=2, last=True) == 64


def size(flops_per_token=1000, tokens_per_step=100.0, warmup=0, tps=None, params=500, hidden=8):
    counts = Counts(params, params, params // 6, flops_per_token)
    config = {"rung": "mlp", "mlp": {"train": {"max_iters": 1}}}
    return Size("mlp", {"n_hidden": hidden}, counts, tokens_per_step, warmup, config, tps)


def test_steps_from_budgets():
    assert steps_for(size(), "flops", 1e7) == 100  # 1e7 / (1000 FLOPs x 100 tokens)
    assert steps_for(size(tps=5000.0), "seconds", 2.0) == 100  # 2 s x 5000 tokens/s / 100 tokens
    with pytest.raises(FrontierError, match=r"budgets.flops=1000 buys 0.01 steps .* raise the smallest budget"):
        steps_for(size(), "flops", 1e3)
    with pytest.raises(FrontierError, match="not more than optim.schedule.warmup_iters=100 steps"):
        steps_for(size(warmup=100), "flops", 1e7)


def test_points_cheapest_first_with_their_config_and_band():
    big = size(params=50_000, hidden=800)
    pts = make_points([size(), big], {"flops": (1e8, 1e7)}, {"mlp": (0, 1)}, {"mlp": (2.0, 1000.0)})
    assert [p.budget for p in pts] == sorted(p.budget for p in pts)
    assert all(p.config["mlp"]["train"]["max_iters"] == p.max_iters and p.config["seed"] == p.seed for p in pts)
    # 1e8 FLOPs buy 1e5 tokens: 200 per parameter for 500 parameters, 2 for 50,000 (the band's edge, kept);
    # 1e7 FLOPs buy 0.2 per parameter of the big size: out of the band, not planned
    assert {p.id for p in pts} == {f"mlp_n_hidden{h}_{c}flops_s{s}" for s in (0, 1)
                                   for h, c in (("8", "1e07"), ("8", "1e08"), ("800", "1e08"))}  # fmt: skip
    wide = make_points([size(), big], {"flops": (1e8,)}, {"mlp": (0,)}, {"mlp": (3.0, 1000.0)})
    assert len(wide) == 1


def test_a_rung_may_keep_its_own_tokens_per_param_band():
    """rungs.<rung>.tokens_per_param replaces the preset's band for that rung alone (their optima lie at different
    tokens per parameter): here the transformer keeps a size at 200 tokens per parameter, which the mlp's band drops
    (it keeps the mlp's size at 2)."""
    raw = {**GOOD, "tokens_per_param": [1, 100]}
    raw["rungs"] = {**GOOD["rungs"], "transformer": {**GOOD["rungs"]["transformer"], "tokens_per_param": [1, 1000]}}
    preset = parse_preset(raw, "p.yaml")
    assert preset.tokens_per_param == (1.0, 100.0)
    assert {a.rung: a.tokens_per_param for a in preset.rungs} == {"mlp": None, "transformer": (1.0, 1000.0)}
    own = {"rung": "transformer", "transformer": {"train": {"max_iters": 1}}}
    gpt = replace(size(), rung="transformer", config=own)
    bands = {"mlp": (1.0, 100.0), "transformer": (1.0, 1000.0)}  # 1e8 FLOPs: 200 tokens per parameter at 500
    pts = make_points([size(), size(params=50_000, hidden=800), gpt], {"flops": (1e8,)}, {"mlp": (0,),
                      "transformer": (0,)}, bands)  # fmt: skip
    assert [(p.rung, p.size) for p in pts] == [("mlp", "n_hidden=800"), ("transformer", "n_hidden=8")]


@pytest.mark.parametrize(
    "change, problem",
    [
        ({"rungs": {"gpt": {"sizes": {"n_embd": [8]}}}}, r"rungs: 'gpt' is not a rung it can use; choose from"),
        ({"rungs": {"bigram": {"sizes": {"order": [2]}}}}, r"a counted rung goes under reference"),
        ({"rungs": {"mlp": {"sizes": {"n_hiden": [8]}}}}, r"rungs.mlp.sizes.n_hiden is not a field of the mlp model"),
        ({"rungs": {"mlp": {"sizes": {"vocab_size": [8]}}}}, r"rungs.mlp.sizes.vocab_size is not a field"),
        ({"rungs": {"mlp": {"sizes": {"n_hidden": [8, 16], "n_embd": [4]}}}}, r"lists of lengths \[1, 2\]"),
        ({"rungs": {"mlp": {"sizes": {"n_hidden": [8, 8]}}}}, r"repeats a model"),
        ({"budgets": {"flops": [0]}}, r"budgets.flops=\[0\] must be a list of distinct numbers > 0"),
        ({"budgets": {"hours": [1]}}, r"budgets.hours is not a budget"),
        ({"budgets": {}}, r"budgets has no flops: or seconds: values"),
        ({"seeds": [0, 0]}, r"seeds=\[0, 0\] must list distinct integers"),
        ({"overrides": ["seed=3"]}, r"the study sets rung, seed and hydra.\* itself"),
        ({"tokens_per_param": [10, 1]}, r"tokens_per_param=\[10, 1\] must be \[low, high\]"),
        (
            {"rungs": {"mlp": {"sizes": {"n_hidden": [8]}, "tokens_per_param": [5]}}},
            r"rungs.mlp.tokens_per_param=\[5\] must be \[low, high\] with 0 <= low < high",
        ),
        (
            {"rungs": {"mlp": {"sizes": {"n_hidden": [8]}, "band": [1, 5]}}},
            r"rungs.mlp: unknown key 'band'; the keys are overrides, sizes, seeds, tokens_per_param",
        ),
        ({"epochs": 3}, r"unknown key 'epochs'"),
        ({"reference": {"nope": []}}, r"reference: 'nope' is not a rung"),
    ],
)
def test_bad_presets_say_what_and_how_to_fix(change, problem):
    with pytest.raises(FrontierError, match=problem) as e:
        parse_preset({**GOOD, **change}, "p.yaml")
    assert str(e.value).startswith("p.yaml: ") and "\n" not in str(e.value)


@pytest.mark.parametrize("name", ["names", "shakespeare"])
def test_shipped_presets_parse(name):
    raw = OmegaConf.to_container(OmegaConf.load(ROOT / "conf" / "frontier" / f"{name}.yaml"))
    p = parse_preset(raw, name)
    assert {a.rung for a in p.rungs} >= {"mlp", "rnn", "transformer"} and "bigram" in p.reference
    assert any(a.seeds == (0, 1) for a in p.rungs) and all(len(a.sizes) >= 5 for a in p.rungs)


def test_the_gpt_preset_goes_one_budget_further():
    raw = OmegaConf.to_container(OmegaConf.load(ROOT / "conf" / "frontier" / "shakespeare_gpt.yaml"))
    p = parse_preset(raw, "shakespeare_gpt")
    assert [a.rung for a in p.rungs] == ["transformer"] and p.budgets["flops"][-1] == 1e13
    assert len(p.budgets["flops"]) == 5


def test_study_folder_stages_points_and_launches(tmp_path):
    pts = make_points([size()], {"flops": (1e7,)}, {"mlp": (0, 1)})
    write_plan(tmp_path, {"points": [p.as_dict() for p in pts], "train_tokens": 1000})
    plan = load_plan(tmp_path)
    with pytest.raises(FrontierError, match="already holds a plan"):
        write_plan(tmp_path, {"points": []})
    run0 = tmp_path / "runs" / pts[0].id
    run0.mkdir(parents=True)
    (run0 / "model.safetensors").write_bytes(b"x")  # a checkpoint to continue
    assert point_state(run0) == "partial"
    ids = [p.id for p in pts]
    stage_points(tmp_path, plan, ids, "abc")
    stage_points(tmp_path, plan, ids, "def")
    cfg = OmegaConf.load(tmp_path / "hydra" / GROUP / f"{ids[0]}.yaml")
    assert cfg.resume is True and cfg.hydra.sweep.subdir == ids[0] and cfg.mlp.train.max_iters == 100
    assert OmegaConf.load(tmp_path / "hydra" / GROUP / f"{ids[1]}.yaml").resume is False
    assert json.loads((run0 / "point.json").read_text())["commits"] == ["abc", "def"]
    (sweep,) = launch_argv(tmp_path, plan["points"], "joblib", jobs=2, ranks=1, extra=["hydra.launcher.verbose=1"])
    assert f"+{GROUP}={','.join(ids)}" in sweep and "hydra/launcher=joblib_2" in sweep and "-m" in sweep
    counted = {"id": "ref_bigram_s0", "rung": "bigram"}
    mpi = launch_argv(tmp_path, [*plan["points"], counted], "mpi", jobs=1, ranks=3, extra=[])
    assert len(mpi) == 3 and mpi[0][0].endswith("mpiexec") and mpi[0][1:3] == ["-n", "3"] and "-m" not in mpi[0]
    assert mpi[2][1] == "stages/train.py"  # a counted rung: nothing to share among ranks, one plain process
    (run0 / "metrics.json").write_text("{}")
    assert point_state(run0) == "finished"


def test_a_plan_from_elsewhere_is_refused(tmp_path):
    (tmp_path / "plan.json").write_text(json.dumps({"version": 99, "points": []}))
    with pytest.raises(FrontierError, match="not a plan this lmladder wrote"):
        load_plan(tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FrontierError, match="has no plan.json"):
        load_plan(tmp_path / "empty")


@pytest.mark.parametrize("named", ["as now", "by name alone"])
def test_a_plan_timed_on_this_cpu_runs_and_one_timed_elsewhere_is_refused(named, tmp_path):
    """A plan's seconds budgets run only on the CPU they were timed on; a plan written before Linux's CPU names
    carried their family and model numbers (cpu_model) names the same CPU by its name alone."""
    from lmladder.cli.frontier import _calibrated_here
    from lmladder.resources import cpu_model

    cpu = cpu_model() if named == "as now" else cpu_model().split(" (family ")[0]
    point = {"kind": "seconds"}
    plan = {"calibration": {"cpu": cpu, "cores": os.cpu_count()}, "points": [point]}
    assert _calibrated_here(plan, tmp_path)
    plan["calibration"]["cpu"] = "an imaginary CPU 9000"
    with pytest.raises(FrontierError, match="timed on an imaginary CPU 9000"):
        _calibrated_here(plan, tmp_path)
    plan["calibration"] |= {"cpu": cpu, "cores": os.cpu_count() + 1}
    with pytest.raises(FrontierError, match="cores"):
        _calibrated_here(plan, tmp_path)


def test_plan_estimates_its_steps_and_cpu_seconds_from_the_calibration():
    """Each run's own tokens at its size's tokens/s (a branch's stable steps are its trunk's), scoring once at a third
    of a step's cost, a fixed cost a run and one a worker per launch; none without a calibration."""
    from lmladder.cli.frontier_plan import RUN_OVERHEAD_S, WORKER_START_S, estimate_seconds, own_steps

    trunk = {"kind": "flops", "max_iters": 100, "planned_tokens": 1000.0, "tokens_per_s": 100.0}
    branch = {**trunk, "max_iters": 50, "planned_tokens": 500.0, "trunk": "t", "branch_step": 40}
    ref = {"kind": "reference", "max_iters": None, "planned_tokens": None}
    plan = {"val_tokens": 300, "points": [trunk, branch, ref]}
    assert own_steps(plan) == 100 + 10
    train, rest = estimate_seconds(plan, jobs=2)
    assert train == 10.0 + 1.0  # 1000 tokens, and the branch's last 10 of 50 steps: 100 tokens
    assert rest == 2 * (1.0 + RUN_OVERHEAD_S) + RUN_OVERHEAD_S + WORKER_START_S * 2 * 2  # two launches of 2 workers
    assert estimate_seconds({**plan, "points": [{**trunk, "tokens_per_s": None}, ref]}) is None
