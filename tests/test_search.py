"""Searches (hydra/sweeper=optuna_*) and the SLURM preset's local twin (hydra/launcher=slurm_cpu_local, submitit's
local executor): the presets composed, then real Hydra runs training a tiny MLP in a temporary folder, and
`lmladder report` on the sweep folder."""

import ast
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pandas as pd
import pytest
import yaml
from hydra import compose, initialize_config_dir
from hydra.utils import get_class
from hydra_plugins.hydra_optuna_sweeper._impl import create_params_from_overrides
from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf
from omegaconf import OmegaConf

from lmladder.app import sweeps
from lmladder.config import rung_settings
from lmladder.models import rung_class
from lmladder.training.settings import rung_schema

from .test_sweeps import MLP_TINY, ROOT, run

CONF = ROOT / "conf"
PRESETS = sorted(p.stem for p in (CONF / "hydra" / "sweeper").glob("optuna_*.yaml"))
SPACES = [p for p in PRESETS if p != "optuna_tpe"]  # the presets with a search space of their own
TRAIN = str(ROOT / "stages" / "train.py")


def _compose(overrides, hydra=False):
    with initialize_config_dir(config_dir=str(CONF), version_base=None):
        return compose(config_name="config", overrides=list(overrides), return_hydra_config=hydra)


@pytest.mark.parametrize("preset", PRESETS)
def test_a_search_preset_minimises_with_a_fixed_seed(preset):
    sweeper = _compose([f"hydra/sweeper={preset}"], hydra=True).hydra.sweeper
    assert sweeper.sampler._target_ == "optuna.samplers.TPESampler" and sweeper.sampler.seed == 0
    assert (sweeper.direction, sweeper.n_jobs, sweeper.storage) == ("minimize", 1, None)


@pytest.mark.parametrize("preset", SPACES)
def test_a_search_space_samples_only_settings_its_rung_accepts(preset):
    """Every dimension is one Optuna accepts (as the sweeper parses it) and names a key of the rung; what it samples
    validates, so a typo or a bad range in conf/ fails here rather than trial by trial."""
    params = _compose([f"hydra/sweeper={preset}"], hydra=True).hydra.sweeper.params
    space, fixed = create_params_from_overrides([f"{k}={v}" for k, v in params.items()])
    rung = fixed.pop("rung")
    assert preset == f"optuna_{rung}" and not fixed and space
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(4):
        trial = study.ask(space)
        cfg = OmegaConf.to_container(_compose([f"{k}={v}" for k, v in trial.params.items()]), resolve=True)
        settings = rung_settings(cfg, rung, rung_schema(rung_class(rung)))
        for key, value in trial.params.items():
            part, name = key.split(".")[1:]
            assert getattr(getattr(settings, part), name) == value, key


def test_the_local_twin_of_slurm_cpu_asks_for_the_same_jobs():
    slurm, local = (_compose([f"hydra/launcher={n}"], True).hydra.launcher for n in ("slurm_cpu", "slurm_cpu_local"))
    assert slurm._target_.endswith(".SlurmLauncher") and local._target_.endswith(".LocalLauncher")
    shared = OmegaConf.structured(BaseQueueConf).keys()
    mine, theirs = (OmegaConf.to_container(c, resolve=False) for c in (local, slurm))
    assert {k: mine[k] for k in shared} == {k: theirs[k] for k in shared}


def test_a_search_without_the_plugin_says_how_to_install_it(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "hydra_plugins.hydra_optuna_sweeper._impl", None)  # as if not installed
    with pytest.raises(SystemExit) as e:
        sweeps.check_search_space("train", ["-m", "hydra/sweeper=optuna_mlp", "rung=mlp"])
    err = capsys.readouterr().err
    assert e.value.code == 2 and err.count("\n") == 1
    assert err.startswith("lmladder mlp: error: hydra/sweeper=optuna_mlp: ") and "hydra_optuna_sweeper" in err
    assert err.endswith("; pip install -e '.[optuna]'\n")


@pytest.mark.parametrize(
    ("dimension", "fix"),
    [
        ("mlp.model.n_hidden=interval(8, 64)", "mlp.model.n_hidden='int(interval(8, 64))'"),
        ("mlp.model.n_hidden=tag(log, interval(8, 64))", "mlp.model.n_hidden='int(tag(log, interval(8, 64)))'"),
        ("seed=interval(0, 3)", "seed='int(interval(0, 3))'"),
    ],
)
def test_a_float_dimension_on_an_integer_key_is_refused_with_its_integer_form(dimension, fix, capsys):
    with pytest.raises(SystemExit) as e:
        sweeps.check_search_space("train", ["-m", "hydra/sweeper=optuna_mlp", "rung=mlp", dimension])
    err = capsys.readouterr().err
    assert e.value.code == 2 and err.count("\n") == 1 and f"takes an integer; write {fix}" in err


@pytest.mark.parametrize(
    "dimension",
    [
        "mlp.model.n_hidden=int(interval(8, 64))",
        "mlp.model.n_hidden=range(8, 64)",
        "mlp.model.n_hidden=choice(8, 64)",
        "mlp.optim.lr=tag(log, interval(1e-3, 1e-2))",
        "mlp.model.dropout=interval(0, 1)",  # a float key: whole-number ends are fine
    ],
)
def test_integer_and_float_dimensions_that_fit_their_keys_pass(dimension):
    sweeps.check_search_space("train", ["-m", "hydra/sweeper=optuna_mlp", "rung=mlp", dimension])


def test_jobs_started_by_submitit_need_only_the_installed_package():
    """A job that submitit starts in a new interpreter unpickles the stage's main, which refers to what the stage
    script imports by module name: no stage script imports a module of stages/ (only lmladder, installed with
    `pip install -e .`, and third-party packages), and the sweep callback conf/config.yaml names is importable."""
    local = {p.stem for p in (ROOT / "stages").glob("*.py")}
    for script in (ROOT / "stages").glob("*.py"):
        for node in ast.walk(ast.parse(script.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            names += [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            assert not {n.split(".")[0] for n in names} & local, f"{script.name} imports a module of stages/"
    target = yaml.safe_load((CONF / "config.yaml").read_text())["hydra"]["callbacks"]["sweep_outcome"]["_target_"]
    assert get_class(target) is sweeps.SweepOutcome


# --- real searches -------------------------------------------------------------------------------------------------

SEARCH = [  # 6 trials, TPE proper after 3 random ones; `sigmoid` is no activation of the MLP, so those trials fail
    "hydra/sweeper=optuna_mlp",
    "hydra.sweeper.n_trials=6",
    "hydra.sweeper.sampler.n_startup_trials=3",
    *MLP_TINY,
    "mlp.model.context=3",
    "mlp.model.n_embd=8",
    "mlp.optim.lr=tag(log, interval(1e-3, 1e-1))",
    "mlp.model.n_hidden=choice(16, 32)",
    "mlp.model.activation=choice(tanh, relu, sigmoid)",
]


def _overrides(job: Path) -> dict:
    pairs = (o.split("=", 1) for o in yaml.safe_load((job / ".hydra" / "overrides.yaml").read_text()))
    return {k: _number(v) for k, v in pairs}


def _number(text: str):
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


@pytest.fixture(scope="module")
def search(tmp_path_factory):
    """The folder it ran in, and what the sweep printed."""
    tmp = tmp_path_factory.mktemp("search")
    r = run([TRAIN, "-m", *SEARCH, "hydra.sweep.dir=sweep"], tmp)
    return tmp, r.stdout + r.stderr


@pytest.mark.slow  # 15-30 s of real training runs: CI's slow pass
def test_a_6_trial_search_minimises_val_nll_and_the_report_lists_every_trial(search):
    search, printed = search
    sweep = search / "sweep"
    assert "Failed experiment" not in printed  # a failed job's +inf is a value to Optuna, not a broken trial
    assert "jobs failed (" in printed.splitlines()[-1]  # the sweep's summary: the search's last line, exit 0
    jobs = [sweep / str(i) for i in range(6)]
    status = {j.name: json.loads((j / "status.json").read_text())["status"] for j in jobs}
    failed = [j for j in jobs if status[j.name] == "failed"]
    assert failed and all(_overrides(j)["mlp.model.activation"] == "sigmoid" for j in failed)  # and the search went on
    assert f"lmladder mlp: {len(failed)} of 6 jobs failed ({6 - len(failed)} finished; the sweep exits 0)" in printed
    nll = {j.name: json.loads((j / "metrics.json").read_text())["val"]["nll"] for j in jobs if j not in failed}
    best_job = min(nll, key=nll.get)
    best = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    assert best["best_value"] == nll[best_job]  # Optuna minimised what stages/train.py returned
    assert best["best_params"] == {k: _overrides(sweep / best_job)[k] for k in best["best_params"]}
    assert best["best_params"]["mlp.model.activation"] != "sigmoid"  # a failed trial's +inf is never best

    rep = run(["-m", "lmladder", "report", "sweep"], search)
    runs = pd.read_csv(sweep / "report" / "runs.csv")
    assert sorted(runs["job"]) == list(range(6)) and list(runs["status"]).count("failed") == len(failed)
    table = pd.read_csv(sweep / "report" / "perplexity.csv")
    assert list(table.columns[:3]) == ["lr", "n_hidden", "activation"]
    top = table.iloc[0]  # best first: the trial Optuna found best
    assert top["val_nll"] == pytest.approx(best["best_value"], rel=1e-12)
    assert top["lr"] == pytest.approx(best["best_params"]["mlp.optim.lr"], rel=1e-12)
    assert f"6 jobs, {6 - len(failed)} finished" in rep.stdout and "## Failed or incomplete jobs" in rep.stdout


@pytest.mark.slow
def test_the_same_search_samples_the_same_trials(search):
    search, _ = search
    run([TRAIN, "-m", *SEARCH, "hydra.sweep.dir=again"], search)
    assert [_overrides(search / "again" / str(i)) for i in range(6)] == [
        _overrides(search / "sweep" / str(i)) for i in range(6)
    ]


def test_int_interval_samples_integers_and_an_earlier_sweeps_job_is_not_counted(tmp_path):
    """The documented integer form trains; the summary counts this sweep's jobs only, not a failed job that an
    earlier sweep left in the same hydra.sweep.dir."""
    old = tmp_path / "s" / "7"
    old.mkdir(parents=True)
    (old / "status.json").write_text(json.dumps({"status": "failed", "stage": "mlp", "error": "an earlier sweep"}))
    os.utime(old / "status.json", (time.time() - 3600, time.time() - 3600))
    args = ["hydra/sweeper=optuna_mlp", "hydra.sweeper.n_trials=2", *MLP_TINY, "mlp.model.context=3"]
    args += ["mlp.model.n_embd=8", "mlp.model.n_hidden=int(interval(8, 12))", "hydra.sweep.dir=s"]
    r = run([TRAIN, "-m", *args], tmp_path)
    sampled = [_overrides(tmp_path / "s" / str(i))["mlp.model.n_hidden"] for i in range(2)]
    assert all(isinstance(h, int) and 8 <= h <= 12 for h in sampled)
    assert "[mlp] sweep: 2 of 2 jobs finished -> s" in r.stdout and "jobs failed" not in r.stderr


def _start(args, cwd: Path) -> subprocess.Popen:
    """A sweep in the background, printing to cwd/driver.log (not a pipe: its jobs inherit it and would hold it open
    after the driver's end). Its jobs get one BLAS thread each, since the local executor starts them all at once.
    stages/ is not on its PYTHONPATH, as in a user's shell: train.py must put it there for the jobs."""
    paths = os.environ.get("PYTHONPATH", "").split(os.pathsep)
    path = os.pathsep.join(p for p in paths if p and Path(p).resolve() != ROOT / "stages")
    env = {k: v for k, v in os.environ.items() if k != "DVC_STAGE"} | {"OPENBLAS_NUM_THREADS": "1", "PYTHONPATH": path}
    with open(cwd / "driver.log", "w") as log:
        return subprocess.Popen([sys.executable, *args], cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT)


@pytest.mark.slow  # 15-30 s of real training runs: CI's slow pass
def test_slurm_cpu_local_runs_each_trial_in_its_own_process_and_the_report_collects_them(tmp_path):
    """The SLURM preset's twin under an Optuna search: a batch of 2 trials (n_jobs=2), each a submitit job."""
    search = ["hydra/sweeper=optuna_mlp", "hydra.sweeper.n_trials=2", "hydra.sweeper.n_jobs=2"]
    fixed = ["mlp.model.context=3", "mlp.model.n_embd=8", "mlp.model.n_hidden=16"]
    args = [TRAIN, "-m", "hydra/launcher=slurm_cpu_local", *search, *MLP_TINY, *fixed, "hydra.sweep.dir=s"]
    assert _start(args, tmp_path).wait(timeout=300) == 0, (tmp_path / "driver.log").read_text()
    sweep = tmp_path / "s"
    ids = [yaml.safe_load((sweep / str(i) / ".hydra/hydra.yaml").read_text())["hydra"]["job"]["id"] for i in range(2)]
    assert len(set(ids)) == 2  # submitit's local job id is the process id of the job's controller
    for i, job_id in enumerate(ids):
        log = (sweep / ".submitit" / job_id / f"{job_id}_0_log.out").read_text()
        assert f"Starting with JobEnvironment(job_id={job_id}" in log and f"-> {sweep / str(i)}\n" in log
    best = yaml.safe_load((sweep / "optimization_results.yaml").read_text())["best_value"]
    run(["-m", "lmladder", "report", "s"], tmp_path)
    runs = pd.read_csv(sweep / "report" / "runs.csv")
    assert list(runs["status"]) == ["ok", "ok"] and runs["val_nll"].min() == pytest.approx(best, rel=1e-12)


def _running_job(pid: int) -> bool:
    cmdline = Path(f"/proc/{pid}/cmdline")
    return cmdline.exists() and "submitit" in cmdline.read_text(errors="replace")


@pytest.mark.slow
def test_jobs_outlive_a_killed_driver_and_the_report_still_reads_them(tmp_path):
    """What happens when the process driving a submitit sweep dies: its jobs go on and finish their folders."""
    args = [TRAIN, "-m", "hydra/launcher=slurm_cpu_local", *MLP_TINY, "mlp.model.n_hidden=16,32", "hydra.sweep.dir=s"]
    driver = _start(args, tmp_path)
    sweep = tmp_path / "s"
    deadline = time.monotonic() + 120
    while len(submitted := list(sweep.glob(".submitit/*/*_submitted.pkl"))) < 2:  # both jobs started
        assert driver.poll() is None and time.monotonic() < deadline, (tmp_path / "driver.log").read_text()
        time.sleep(0.1)
    driver.kill()
    driver.wait()
    pids = [int(p.parent.name) for p in submitted]  # a local job's id is its process id
    done = [sweep / ".submitit" / str(pid) / f"{pid}_0_result.pkl" for pid in pids]
    assert not all(d.exists() for d in done)  # still running when the driver died
    try:
        while not all(d.exists() for d in done):
            assert time.monotonic() < deadline, "the jobs did not finish without their driver"
            time.sleep(0.2)
    finally:  # only the jobs this test started, should one still run
        for pid in filter(_running_job, pids):
            os.kill(pid, signal.SIGTERM)
    assert [json.loads((sweep / str(i) / "status.json").read_text())["status"] for i in range(2)] == ["ok", "ok"]
    run(["-m", "lmladder", "report", "s"], tmp_path)
    table = pd.read_csv(sweep / "report" / "perplexity.csv")
    assert sorted(table["n_hidden"]) == [16, 32] and list(table["n"]) == [1, 1]
