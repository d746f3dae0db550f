"""`lmladder report` on sweeps: fast tests on fabricated job folders, slow ones on real Hydra multiruns (basic and
joblib launchers) in a temporary folder, including jobs that fail with a project error or a bug."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from lmladder.cli import main
from lmladder.reports.collect import collect
from lmladder.reports.names import TIMINGS
from lmladder.reports.tables import summarize

ROOT = Path(__file__).resolve().parent.parent


def fake_job(sweep: Path, num: int, overrides: list[str], val_nll: float | None, *, status=None, stage="mlp"):
    """A Hydra job folder as stages/train.py leaves it (val_nll None: no metrics.json)."""
    job = sweep / str(num)
    (job / ".hydra").mkdir(parents=True)
    (job / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    (job / ".hydra" / "hydra.yaml").write_text(yaml.safe_dump({"hydra": {"job": {"name": "train"}}}))
    seed = next((int(o.split("=")[1]) for o in overrides if o.startswith("seed=")), 0)
    (job / ".hydra" / "config.yaml").write_text(yaml.safe_dump({"seed": seed, "rung": stage}))
    if val_nll is not None:
        split = {"nll": val_nll, "ppl": float(np.exp(val_nll)), "bpc": val_nll / np.log(2), "tokens": 10, "chars": 10}
        metrics = {"rung": stage, "seed": seed, "params": 100, "step": 60, "val": split, "test": split}
        (job / "metrics.json").write_text(json.dumps(metrics))
        (job / "timing.json").write_text(json.dumps({"train_time_s": 1.5 + num, "tokens_per_s": 1000.0}))
        (job / "eval_log.tsv").write_text("step\ttrain_loss\tval_loss\n0\t3.3\t3.3\n60\t2.9\t2.9\n")
        status = status or {"status": "ok", "stage": stage}
    if status:
        (job / "status.json").write_text(json.dumps(status))
    return job


@pytest.fixture
def sweep(tmp_path):
    """2 settings × 2 seeds, one more setting whose seed 0 failed and seed 1 never finished."""
    s = tmp_path / "multirun" / "2026-01-01" / "12-00-00"
    fixed = ["mlp.train.max_iters=60"]
    nll = {(32, 0): 2.9, (32, 1): 2.8, (64, 0): 2.6, (64, 1): 2.7}
    for i, ((h, seed), v) in enumerate(nll.items()):
        fake_job(s, i, [*fixed, f"mlp.model.n_hidden={h}", f"seed={seed}"], v)
    failed = {"status": "failed", "stage": "mlp", "error": "mlp.model.n_hidden=-1 must be a positive integer"}
    fake_job(s, 4, [*fixed, "mlp.model.n_hidden=-1", "seed=0"], None, status=failed)
    fake_job(s, 5, [*fixed, "mlp.model.n_hidden=-1", "seed=1"], None)
    return s


def test_a_partly_timed_run_has_no_total_training_time(tmp_path):
    job = fake_job(tmp_path / "sweep", 0, ["seed=0"], 2.5)  # resumed at step 20 from another folder's checkpoint
    (job / "timing.json").write_text(json.dumps({"train_time_s": 3.0, "tokens_per_s": 900.0, "timed_from_step": 20}))
    row = collect(tmp_path / "sweep").table.iloc[0]
    assert np.isnan(row["train_time_s"]) and row["tokens_per_s"] == 900.0


def test_collect_finds_the_swept_setting_and_the_fixed_ones(sweep):
    runs = collect(sweep)
    assert runs.by == ["n_hidden"] and runs.fixed == {"mlp.train.max_iters": "60"}
    t = runs.table
    assert list(t["status"]) == ["ok"] * 4 + ["failed", "incomplete"]
    assert list(t["seed"]) == [0, 1, 0, 1, 0, 1] and list(t["job"]) == [str(i) for i in range(6)]
    assert len(runs.curves) == 4 and set(runs.groups.values()) == {"n_hidden=32", "n_hidden=64"}


def test_summary_counts_only_finished_seeds_and_sorts_best_first(sweep):
    runs = collect(sweep)
    s = summarize(runs.table, runs.by)
    assert list(s["n_hidden"]) == [64, 32, -1] and list(s["n"]) == [2, 2, 0] and list(s["failed"]) == [0, 0, 2]
    assert s["val_nll"][0] == pytest.approx(2.65) and s["val_nll_std"][0] == pytest.approx(np.std([2.6, 2.7], ddof=1))
    assert np.isnan(s["val_nll"][2])


def test_report_command_writes_every_file_and_lists_failures(sweep, capsys):
    assert main(["report", str(sweep)]) == 0
    out = capsys.readouterr()
    rep = sweep / "report"
    for f in ("perplexity.csv", "perplexity.md", "perplexity.png", "runs.csv", "metrics.json", "timing.csv"):
        assert (rep / f).stat().st_size > 0
    md = out.out
    assert md == (rep / "perplexity.md").read_text() + "\n" + (rep / "timing.md").read_text() + "\n"
    assert "Fixed overrides: `mlp.train.max_iters=60`" in md
    assert "## Failed or incomplete jobs (2, not counted in n)" in md
    assert "must be a positive integer" in md and "no metrics.json" in md
    assert "2 of 6 jobs failed" in out.err
    table = pd.read_csv(sweep / "report" / "perplexity.csv")
    assert list(table.columns[:4]) == ["n_hidden", "tokenizer", "n", "failed"]
    assert set(table["tokenizer"]) <= {"char", "—"}  # which tokenizer each row used ("—": no job finished)
    # wall clock only in the timing table (jobs 2 and 3 took 3.5 s and 4.5 s)
    for f in ("perplexity.csv", "runs.csv", "perplexity.md", "metrics.json"):
        assert "time" not in (rep / f).read_text() and "tokens_per_s" not in (rep / f).read_text(), f
    timing = pd.read_csv(rep / "timing.csv")
    assert list(timing.columns) == ["n_hidden", "n", *TIMINGS, *(f"{c}_std" for c in TIMINGS)]
    assert list(timing["n_hidden"]) == [64, 32, -1] and timing["train_time_s"][0] == 4.0
    assert "| 4.0 ± 0.7 " in (rep / "timing.md").read_text()
    assert main(["report", str(sweep), "--strict", "--out", str(sweep.parent / "r2")]) == 1


def test_report_on_a_folder_of_sweeps_and_a_missing_override(tmp_path):
    fake_job(tmp_path / "a", 0, ["seed=0"], 2.5, stage="transformer")
    fake_job(tmp_path / "b", 0, ["transformer.model.n_layer=2", "seed=0"], 2.4, stage="transformer")
    runs = collect(tmp_path)
    assert runs.by == ["n_layer"] and sorted(map(str, runs.table["n_layer"])) == ["2", "default"]


def test_only_seeds_swept_groups_by_rung(tmp_path):
    for seed in (0, 1, 2):
        fake_job(tmp_path, seed, [f"seed={seed}"], 2.0 + seed / 10)
    runs = collect(tmp_path)
    s = summarize(runs.table, runs.by)
    assert runs.by == ["rung"] and list(s["rung"]) == ["mlp"] and s["n"][0] == 3


def test_a_swept_rung_is_the_rung_column(tmp_path):
    for i, rung in enumerate(("mlp", "transformer")):
        fake_job(tmp_path, i, [f"rung={rung}", "seed=0"], 2.0 + i, stage=rung)
    fake_job(tmp_path, 2, ["rung=mlp", "seed=1"], None)  # killed: no status.json, its rung from .hydra/config.yaml
    runs = collect(tmp_path)
    assert runs.by == ["rung"] and runs.fixed == {} and list(runs.table["rung"]) == ["mlp", "transformer", "mlp"]


def test_short_names_stay_unique(tmp_path):
    fake_job(tmp_path, 0, ["mlp.optim.lr=0.1", "transformer.optim.lr=0.1", "seed=0"], 2.0)
    fake_job(tmp_path, 1, ["mlp.optim.lr=0.2", "transformer.optim.lr=0.3", "seed=0"], 2.1)
    assert collect(tmp_path).by == ["mlp.optim.lr", "transformer.optim.lr"]


def test_dvc_layout(tmp_path):
    for rung, seed, v in (("bigram", 0, 2.45), ("mlp", 0, 2.1), ("mlp", 1, 2.2)):
        job = tmp_path / rung / f"seed{seed}"
        job.mkdir(parents=True)
        (job / "metrics.json").write_text(json.dumps({"val": {"nll": v}, "test": {"nll": v}, "params": 5}))
    (tmp_path / "mlp" / "seed2").mkdir()  # never finished
    runs = collect(tmp_path)
    s = summarize(runs.table, runs.by)
    assert runs.by == ["rung"] and list(runs.table["job"]) == ["bigram/seed0", "mlp/seed0", "mlp/seed1", "mlp/seed2"]
    assert list(s["rung"]) == ["mlp", "bigram"] and list(s["n"]) == [2, 1] and list(s["failed"]) == [1, 0]


def test_summarize_without_status_keeps_the_evaluate_stage_table():
    runs = pd.DataFrame({"rung": ["a", "a", "b"], "seed": [0, 1, 0], "val_nll": [1.0, 2.0, 0.5]})
    s = summarize(runs, ["rung"])
    assert "failed" not in s and list(s["rung"]) == ["b", "a"] and list(s["n"]) == [1, 2]


def test_report_errors_are_one_line(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no runs under" in err and "Traceback" not in err


# --- real sweeps (slow) --------------------------------------------------------------------------------------------

MLP_TINY = ["rung=mlp", "mlp.train.max_iters=40", "mlp.train.eval.interval=20", "mlp.train.eval.iters=4"]
MLP_TINY += ["mlp.sample.num_samples=2", "mlp.sample.sample_tokens=20"]
GPT_TINY = [
    "rung=transformer",
    "transformer.sample.num_samples=2",
    "transformer.sample.sample_tokens=20",
    "transformer.train.max_iters=20",
    "transformer.train.eval.interval=10",
    "transformer.train.eval.iters=4",
    "transformer.model.n_layer=1",
    "transformer.model.n_embd=32",
]


def run(args, cwd, check=True):
    env = {k: v for k, v in os.environ.items() if k not in ("DVC_STAGE", "OPENBLAS_NUM_THREADS")}
    r = subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True, env=env)
    if check and r.returncode:
        raise AssertionError(f"{args} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
    return r


@pytest.mark.slow
def test_joblib_2x2_sweep_then_report(tmp_path):
    """Two workers prepare the data (once), train into their job folders only, and the report matches them."""
    r = run(
        [str(ROOT / "stages/train.py"), "-m", "hydra/launcher=joblib_2", *MLP_TINY]
        + ["mlp.model.n_hidden=16,32", "seed=0,1", "hydra.sweep.dir=sweep"],
        tmp_path,
    )
    assert "joblib (loky) is launching 4 jobs, n_jobs=2 at a time" in r.stdout + r.stderr
    jobs = [tmp_path / "sweep" / str(i) for i in range(4)]
    for job in jobs:
        assert json.loads((job / "status.json").read_text())["status"] == "ok"
        assert (job / "model.safetensors").exists() and (job / "eval_log.tsv").exists()
    assert not (tmp_path / "outputs").exists()  # never the DVC-tracked outputs/<rung>/seed<N>
    prepared = [p.name for p in (tmp_path / "data" / "cache").iterdir() if p.is_dir()]
    assert len(prepared) == 1 and prepared[0].startswith("names-")  # both workers share one prepared copy

    rep = run(["-m", "lmladder", "report", "sweep"], tmp_path)
    table = pd.read_csv(tmp_path / "sweep" / "report" / "perplexity.csv")
    assert len(table) == 2 and list(table["n"]) == [2, 2] and "failed" not in table
    for hidden, (_, row) in zip(table["n_hidden"], table.iterrows(), strict=True):
        mine = [json.loads((j / "metrics.json").read_text()) for j in jobs if f"n_hidden={hidden}\n" in _overrides(j)]
        assert len(mine) == 2
        assert row["val_nll"] == pytest.approx(np.mean([m["val"]["nll"] for m in mine]), rel=1e-12)
        assert row["test_ppl"] == pytest.approx(np.mean([m["test"]["ppl"] for m in mine]), rel=1e-12)
        assert row["val_nll_std"] == pytest.approx(np.std([m["val"]["nll"] for m in mine], ddof=1), rel=1e-9)
        assert row["params"] == mine[0]["params"]
    assert "n_hidden" in rep.stdout and "± " in rep.stdout


def _overrides(job: Path) -> str:
    return (job / ".hydra" / "overrides.yaml").read_text()


@pytest.mark.slow
def test_a_failing_setting_is_reported_and_the_others_survive(tmp_path):
    """n_head=3 does not divide n_embd=32: those jobs fail with one line, the sweep goes on and exits 0."""
    r = run(
        [str(ROOT / "stages/train.py"), "-m", *GPT_TINY]
        + ["transformer.model.n_head=3,4", "seed=0,1", "hydra.sweep.dir=sweep"],
        tmp_path,
    )
    assert r.stderr.count("is not divisible by transformer.model.n_head=3") == 2 and "Traceback" not in r.stderr
    assert r.stderr.splitlines()[-1].startswith(
        "lmladder transformer: 2 of 4 jobs failed (2 finished; the sweep exits 0)"
    )
    rep = run(["-m", "lmladder", "report", "sweep"], tmp_path)
    table = pd.read_csv(tmp_path / "sweep" / "report" / "perplexity.csv")
    assert list(table["n_head"]) == [4, 3] and list(table["n"]) == [2, 0] and list(table["failed"]) == [0, 2]
    ok = json.loads((tmp_path / "sweep" / "2" / "metrics.json").read_text())
    runs = pd.read_csv(tmp_path / "sweep" / "report" / "runs.csv")
    assert runs.loc[runs["job"] == 2, "val_nll"].item() == ok["val"]["nll"]
    assert "## Failed or incomplete jobs (2, not counted in n)" in rep.stdout and "not divisible" in rep.stdout


BUGGY_APP = """
import hydra
from lmladder.app.policy import stage
from lmladder.config import ConfigError
from lmladder.io import atomic_write_json

@hydra.main(config_path={conf!r}, config_name="config", version_base=None)
def main(cfg):
    with stage("buggy", cfg) as st:
        if st.run.seed == 1:
            raise ZeroDivisionError("a bug in job 1")
        if st.run.seed == 2:
            raise ConfigError("seed=2 is refused; pick another seed")
        atomic_write_json(st.job_dir / "metrics.json", {{"val": {{"nll": 2.0}}, "test": {{"nll": 2.1}}, "seed": 0}})

main()
"""


@pytest.mark.slow
@pytest.mark.parametrize("launcher", ["basic", "joblib_2"])
def test_a_bug_in_one_job_keeps_the_others(tmp_path, launcher):
    app = tmp_path / "buggy_app.py"
    app.write_text(BUGGY_APP.format(conf=str(ROOT / "conf")))
    r = run([str(app), "-m", f"hydra/launcher={launcher}", "seed=0,1,2", "hydra.sweep.dir=sweep"], tmp_path, False)
    assert r.returncode != 0 and "ZeroDivisionError" in r.stderr  # a bug still shows its traceback, at the end
    status = [json.loads((tmp_path / "sweep" / str(i) / "status.json").read_text()) for i in range(3)]
    assert [s["status"] for s in status] == ["ok", "failed", "failed"]
    assert "ZeroDivisionError: a bug in job 1" in status[1]["error"] and "Traceback" in status[1]["traceback"]
    rep = run(["-m", "lmladder", "report", "sweep"], tmp_path)
    assert "ZeroDivisionError: a bug in job 1" in rep.stdout and "seed=2 is refused" in rep.stdout
    table = pd.read_csv(tmp_path / "sweep" / "report" / "perplexity.csv")
    assert list(table["n"]) == [1] and list(table["failed"]) == [2] and table["val_nll"][0] == 2.0
