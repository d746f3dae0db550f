"""Cool-down branches for real: a tiny names study (a GRU and a GPT, two sizes each, three FLOP budgets) planned with
branches and without, in a copy of the project through the `lmladder` command. The branched study is killed with
SIGKILL twice (once among its stable runs, once among its branches) and run again; then every point equals the
separate wsd run of its budget: the same val NLL, a branch's checkpoint the same bytes, and `fit` reads the same
tokens and FLOPs. No finished point is run twice."""

import json
import shutil

import pandas as pd
import pytest

from ..shared_data import shared_file
from .test_e2e import ROOT, finished, lmladder, run_and_kill

BRANCHED = """
name: br
overrides: [data.source=file, data.path=corpora/names.txt, data.name=names_small]
seeds: [0]
budgets: {flops: [1.0e8, 2.0e8, 4.0e8]}
branches: {cooldown_frac: 0.25}
rungs:
  rnn:
    overrides: [rnn=makemore, rnn.optim.schedule.name=wsd, rnn.optim.schedule.warmup_iters=2]
    sizes: {n_hidden: [16, 32]}
  transformer:
    overrides: [transformer=makemore, transformer.optim.schedule.name=wsd,
                transformer.optim.schedule.warmup_iters=2,
                transformer.model.n_layer=1]
    sizes: {n_embd: [8, 16]}
"""
# the same runs, each trained from step 0: the cool-down share given to each rung instead of to branches
SEPARATE = (
    BRANCHED.replace("branches: {cooldown_frac: 0.25}\n", "")
    .replace("rnn.optim.schedule.name=wsd,", "rnn.optim.schedule.name=wsd, rnn.optim.schedule.wsd.cooldown_frac=0.25,")
    .replace(
        "transformer.optim.schedule.name=wsd,",
        "transformer.optim.schedule.name=wsd, transformer.optim.schedule.wsd.cooldown_frac=0.25,",
    )
)


@pytest.fixture
def project(tmp_path):
    root = tmp_path / "project"
    for d in ("conf", "stages"):
        shutil.copytree(ROOT / d, root / d, ignore=shutil.ignore_patterns("__pycache__"))
    (root / "corpora").mkdir()
    names = shared_file("names.txt").read_text().splitlines()[:3000]
    (root / "corpora" / "names.txt").write_text("\n".join(names) + "\n")
    (root / "br.yaml").write_text(BRANCHED)
    (root / "sep.yaml").write_text(SEPARATE)
    return root


@pytest.mark.slow
def test_branches_equal_separate_runs_through_kills(project):
    br, sep = project / "br", project / "sep"
    r = lmladder(project, "plan", "br.yaml", "--out", br)
    assert r.returncode == 0 and "branches: 8 cool-downs (0.25 of their steps) from 4 stable runs" in r.stdout, r.stderr
    assert lmladder(project, "plan", "sep.yaml", "--out", sep).returncode == 0
    points = json.loads((br / "plan.json").read_text())["points"]
    branches = {p["id"]: p for p in points if p.get("trunk")}
    assert len(points) == 12 and len(branches) == 8
    r = lmladder(project, "run", sep)
    assert r.returncode == 0, r.stderr[-3000:]

    run_and_kill(project, br, after=2)  # among the stable runs
    first = finished(br)
    assert 2 <= len(first) < 4 and not set(first) & set(branches), (project / "run1.log").read_text()[-2000:]
    run_and_kill(project, br, after=6)  # among the branches
    second = finished(br)
    assert 6 <= len(second) < 12 and {k: second[k] for k in first} == first
    r = lmladder(project, "run", br)
    assert r.returncode == 0, r.stderr[-3000:]
    last = finished(br)
    assert len(last) == 12 and {k: last[k] for k in second} == second  # not one finished point redone
    assert "all 12 points finished" in lmladder(project, "run", br).stdout

    for p in points:
        a, b = (json.loads((d / "runs" / p["id"] / "metrics.json").read_text()) for d in (br, sep))
        assert a["val"] == b["val"] and a.get("test") == b.get("test"), p["id"]
        if p["id"] in branches:  # a trunk's config differs by its checkpoint.snapshots, recorded in its checkpoint
            ckpt = [(d / "runs" / p["id"] / "model.safetensors").read_bytes() for d in (br, sep)]
            assert ckpt[0] == ckpt[1], p["id"]
            shared = json.loads((br / "runs" / p["trunk"] / f"step{p['branch_step']}.timing.json").read_text())
            own = json.loads((br / "runs" / p["id"] / "timing.json").read_text())
            assert own["train_time_s"] > shared["train_time_s"] > 0  # its seconds count the stable steps

    for d in (br, sep):
        r = lmladder(project, "fit", d, "--bootstrap", "0")
        assert r.returncode == 0, r.stderr[-3000:]
    a, b = (pd.read_csv(d / "frontier" / "runs.csv").set_index("point").sort_index() for d in (br, sep))
    cols = ["status", "step", "tokens", "flops", "val_nll", "N_params"]
    pd.testing.assert_frame_equal(a[cols], b[cols])
    assert a["branch_step"].dropna().to_dict() == {k: p["branch_step"] for k, p in branches.items()}
    assert b["branch_step"].isna().all()
