"""The stage glue (lmladder.app) as a library: a job's folders, the Run a training stage makes, the one-line error
policy, what runs before Hydra, and a sweep's outcome. Each test composes the real conf/ with Hydra and sets the
job's HydraConfig the way @hydra.main does, then calls the glue in-process."""

import json
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import OmegaConf, open_dict

from lmladder.app import policy, startup
from lmladder.app.runs import training_run
from lmladder.app.stage import CHECKPOINT, Stage, stage_name
from lmladder.app.sweeps import SweepOutcome
from lmladder.config import ConfigError
from lmladder.models.mlp import MLP
from lmladder.training import Run, SettingsError

from ..shared_data import shared_file

CONF = Path(__file__).resolve().parents[2] / "conf"
SMALL = ["mlp.train.max_iters=2", "mlp.train.eval.iters=1", "mlp.train.progress=false", "mlp.sample.num_samples=1"]


@pytest.fixture
def job(tmp_path, monkeypatch):
    """job(overrides, multirun=False, config_name="config") -> the config a stage's main receives, with its
    HydraConfig set: the first 600 names as the corpus, prepared under tmp_path, the job folder tmp_path/job."""
    names = tmp_path / "names.txt"
    names.write_text("\n".join(shared_file("names.txt").read_text().splitlines()[:600]) + "\n")
    monkeypatch.delenv("DVC_STAGE", raising=False)
    monkeypatch.chdir(tmp_path)

    def make(overrides=(), multirun=False, config_name="config"):
        data = ["data.source=file", f"data.path={names}", f"paths.prepared={tmp_path}/prepared"]
        with initialize_config_dir(config_dir=str(CONF), version_base=None):
            cfg = compose(config_name="config", overrides=[*data, *SMALL, *overrides], return_hydra_config=True)
        with open_dict(cfg):
            cfg.hydra.runtime.output_dir = str(tmp_path / "job")
            cfg.hydra.mode = RunMode.MULTIRUN if multirun else RunMode.RUN
            cfg.hydra.job.config_name = config_name
        HydraConfig.instance().set_config(cfg)
        (tmp_path / "job").mkdir(exist_ok=True)
        return OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"])

    yield make
    HydraConfig.instance().cfg = None


def test_the_train_stage_is_named_after_its_rung_only_when_it_is_one():
    assert stage_name("train", {"rung": "mlp"}) == "mlp"
    assert stage_name("train", {"rung": "nope"}) == "train"  # an unknown rung names nothing: its error says why
    assert stage_name("train", {}) == "train" and stage_name("evaluate", {"rung": "mlp"}) == "evaluate"


def test_a_training_stage_makes_its_run_as_one_value(job, tmp_path):
    cfg = job(["rung=mlp", "seed=3"])
    st = Stage("mlp", cfg)
    run = training_run(st)
    assert isinstance(run, Run) and run.cls is MLP and run.seed == 3 and run.out_dir == tmp_path / "job"
    assert run.config.vocab_size == run.data.vocab_size == 27  # the data fields, set once from the data
    assert run.train.max_iters == 2 and run.optim is not None and run.resume is None and run.world.size == 1
    assert "seed" not in run.meta and run.checkpoint_meta["seed"] == 3  # the seed travels once
    assert run.meta["config"]["rung"] == "mlp" and run.meta["data"]["source"] == "file" and "resume" not in run.meta
    assert run.live is not None and run.live.dir == tmp_path / "job" / "dvclive"
    assert st.keys["seq_len"] == "mlp.train.seq_len" and st.keys["n_hidden"] == "mlp.model.n_hidden"


def test_a_run_refuses_a_trained_rung_without_its_settings(job):
    st = Stage("mlp", job(["rung=mlp"]))
    run = training_run(st)
    with pytest.raises(TypeError, match="MLP trains by gradient descent; give optim and train"):
        Run(cls=MLP, config=run.config, data=run.data, seed=0, out_dir=run.out_dir)


def test_a_stage_without_a_rung_and_with_a_renamed_key_is_refused(job):
    with pytest.raises(ConfigError, match=r"^rung is not set; choose one of .*mlp"):
        training_run(Stage("train", job()))
    with pytest.raises(ConfigError, match=r"^mlp.train.block_size is now mlp.train.seq_len"):
        training_run(Stage("mlp", job(["rung=mlp", "+mlp.train.block_size=8"])))


def test_resume_true_continues_the_job_folders_own_checkpoint(job, tmp_path, capsys):
    st = Stage("mlp", job(["rung=mlp", "resume=true"]))
    assert st.resume_path(st.out_dir()) is None and "no checkpoint in" in capsys.readouterr().out
    (tmp_path / "job" / CHECKPOINT).write_bytes(b"")
    assert st.resume_path(st.out_dir()) == tmp_path / "job" / CHECKPOINT
    with pytest.raises(ConfigError, match=r"resume=.*nope.safetensors: no checkpoint file there"):
        Stage("mlp", job(["rung=mlp", f"resume={tmp_path}/nope.safetensors"])).resume_path(tmp_path)


def test_under_dvc_a_run_trains_in_its_partial_folder_and_is_published(job, tmp_path, monkeypatch):
    cfg = job(["rung=mlp", f"paths.outputs={tmp_path}/outputs"], config_name="params")
    monkeypatch.setenv("DVC_STAGE", "train@mlp-0")
    st = Stage("mlp", cfg)
    out = st.out_dir()
    assert out == tmp_path / "outputs" / ".partial" / "mlp" / "seed0"
    assert st.live_dir(on=True, key="mlp.train.dvclive") == Path("dvclive/mlp/seed0")
    with pytest.raises(ConfigError, match="mlp.train.dvclive=false: dvc.yaml declares this run's live log"):
        st.live_dir(on=False, key="mlp.train.dvclive")
    out.mkdir(parents=True)
    (out / "metrics.json").write_text("{}")
    assert st.publish() == tmp_path / "outputs" / "mlp" / "seed0" and not out.exists()
    assert (tmp_path / "outputs" / "mlp" / "seed0" / "metrics.json").exists()


def test_under_dvc_another_config_than_the_snapshot_is_refused(job, monkeypatch):
    cfg = job(["rung=mlp"])
    monkeypatch.setenv("DVC_STAGE", "train@mlp-0")
    with pytest.raises(ConfigError, match=r"under DVC, stages read the params.yaml snapshot .* not 'config'"):
        Stage("mlp", cfg)


def test_a_project_error_is_one_line_and_exit_2(job, capsys):
    cfg = job(["rung=mlp"])
    with pytest.raises(SystemExit) as e, policy.stage("train", cfg) as st:
        st.keys["lr"] = "mlp.optim.lr"
        raise SettingsError("lr=0 must be > 0")
    assert e.value.code == 2
    assert capsys.readouterr().err == "lmladder mlp: error: mlp.optim.lr=0 must be > 0\n"  # in the config's words


def test_in_a_sweep_a_failed_job_is_marked_and_returns(job, tmp_path, capsys):
    cfg = job(["rung=mlp"], multirun=True)
    with policy.stage("train", cfg):
        raise ConfigError("seed=2 is refused; pick another seed")
    err = capsys.readouterr().err
    sweep = " (the sweep goes on; `lmladder report` lists this job as failed)"
    assert err == f"lmladder mlp: error: seed=2 is refused; pick another seed{sweep}\n"
    status = json.loads((tmp_path / "job" / policy.STATUS).read_text())
    assert status == {"status": "failed", "stage": "mlp", "error": "seed=2 is refused; pick another seed"}
    with policy.stage("train", cfg):
        pass
    assert json.loads((tmp_path / "job" / policy.STATUS).read_text()) == {"status": "ok", "stage": "mlp"}


def test_a_bug_in_a_sweep_job_is_recorded_and_raised(job, tmp_path):
    cfg = job(["rung=mlp"], multirun=True)
    with pytest.raises(ZeroDivisionError), policy.stage("train", cfg):
        1 / 0  # noqa: B018
    status = json.loads((tmp_path / "job" / policy.STATUS).read_text())
    assert status["status"] == "failed" and "ZeroDivisionError" in status["error"] and "1 / 0" in status["traceback"]


def test_before_hydra_a_folder_that_cannot_be_made_is_refused_in_one_line(tmp_path, capsys):
    (tmp_path / "file").write_text("")
    assert startup.unmakeable(tmp_path / "new" / "run") is None and (tmp_path / "new" / "run").is_dir()
    assert startup.unmakeable(tmp_path / "file" / "run") == f"{tmp_path / 'file'} is a regular file, not a folder"
    with pytest.raises(SystemExit) as e:
        startup.check_run_dir("train", ["rung=bigram", f"hydra.run.dir={tmp_path}/file/run"])
    assert e.value.code == 2
    assert capsys.readouterr().err.startswith(f"lmladder bigram: error: hydra.run.dir={tmp_path}/file/run: ")
    startup.check_run_dir("train", ["-m", "rung=mlp", f"hydra.sweep.dir={tmp_path}/s/${{now:%H}}"])  # makes s/
    assert (tmp_path / "s").is_dir()


def test_the_sweep_outcome_counts_this_sweeps_jobs(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["train.py", "-m", "rung=mlp"])
    config = OmegaConf.create({"hydra": {"sweep": {"dir": str(tmp_path)}, "job": {"name": "train"}}})
    outcome = SweepOutcome()
    outcome.on_multirun_start(config)
    for n, status in enumerate(["ok", "failed", "ok"]):
        (tmp_path / str(n)).mkdir()
        (tmp_path / str(n) / policy.STATUS).write_text(json.dumps({"status": status}))
    outcome.on_multirun_end(config)
    assert capsys.readouterr().err.startswith("lmladder mlp: 1 of 3 jobs failed (2 finished; the sweep exits 0)")
    for n in (0, 2):
        (tmp_path / str(n) / policy.STATUS).write_text(json.dumps({"status": "failed"}))
    with pytest.raises(SystemExit) as e:
        outcome.on_multirun_end(config)
    assert e.value.code == 2 and "error: all 3 jobs of the sweep failed" in capsys.readouterr().err
