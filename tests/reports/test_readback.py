"""`lmladder report` and `compare` on their own files, edited since lmladder wrote them (issue 32, class 3): each
bad value is refused in one line that names the file and the field; a NaN score is a failed run, never averaged."""

import json
import math

import pytest
import yaml

from lmladder.reports.collect import ReportError, collect
from lmladder.reports.compare import load
from lmladder.reports.tables import summarize

SCORES = {"nll": 2.0, "ppl": math.exp(2.0), "bpc": 2.0 / math.log(2), "bpb": 2.0 / math.log(2)}


def run(root, seed, **edit):
    """outputs/mlp/seed<N>/ as the pipeline leaves it; `edit` replaces metrics.json's fields."""
    d = root / "mlp" / f"seed{seed}"
    d.mkdir(parents=True)
    metrics = {"rung": "mlp", "seed": seed, "params": 100, "tokenizer": "char", "val": SCORES, "test": SCORES}
    (d / "metrics.json").write_text(json.dumps({**metrics, **edit}))
    return d


@pytest.mark.parametrize(
    "edit, match",
    [
        ({"val": {**SCORES, "nll": "2.0"}}, r'seed0/metrics.json: val.nll is "2.0", not a number'),
        ({"val": 2.0}, r"seed0/metrics.json: val is 2.0, not an object of scores"),
        ({"test": [2.0]}, r"seed0/metrics.json: test is \[2.0\], not an object of scores"),
        ({"params": "100"}, r'seed0/metrics.json: params is "100", not a number'),
        ({"params": True}, r"seed0/metrics.json: params is true, not a number"),
        ({"params": 10**400}, r"seed0/metrics.json: params is 1000.*, too large a number"),
        ({"tokenizer": ["char"]}, r'seed0/metrics.json: tokenizer is \["char"\], not a string'),
        ({"samples": "none"}, r'seed0/metrics.json: samples is "none", not an object'),
        ({"samples": {"novelty": "high"}}, r'seed0/metrics.json: samples.novelty is "high", not a number'),
    ],
)
def test_a_metrics_field_of_the_wrong_type_is_named(tmp_path, edit, match):
    run(tmp_path, 0, **edit)
    with pytest.raises(ReportError, match=match + r".*; repair or delete it \(the job then counts as incomplete\)"):
        collect(tmp_path)


@pytest.mark.parametrize(
    "name, content, match",
    [
        ("timing.json", {"train_time_s": "slow"}, r'timing.json: train_time_s is "slow", not a number'),
        ("health.json", {"dead_max": [0.1]}, r"health.json: dead_max is \[0.1\], not a number"),
    ],
)
def test_timing_and_health_fields_are_checked(tmp_path, name, content, match):
    (run(tmp_path, 0) / name).write_text(json.dumps(content))
    with pytest.raises(ReportError, match=match + r"; delete it \(the run is then reported without it\)"):
        collect(tmp_path)


def test_a_nan_score_is_a_failed_run_not_averaged(tmp_path):
    run(tmp_path, 0)
    run(tmp_path, 1, val={**SCORES, "nll": math.nan})  # json.dumps writes NaN, as a diverged run's metrics.json
    runs = collect(tmp_path)
    assert list(runs.table["status"]) == ["ok", "failed"]
    assert "metrics.json has val.nll=nan: the run diverged" in runs.table["error"].iloc[1]
    summary = summarize(runs.table, runs.by)
    assert summary["n"].iloc[0] == 1 and summary["failed"].iloc[0] == 1 and summary["val_nll"].iloc[0] == 2.0


def test_a_curve_with_text_in_it_is_named(tmp_path):
    (run(tmp_path, 0) / "eval_log.tsv").write_text("step\ttrain_loss\tval_loss\n0\t3.3\t3.3\n60\t2.9\tlow\n")
    with pytest.raises(ReportError, match=r'eval_log.tsv: column val_loss, line 3 holds "low", not a number'):
        collect(tmp_path)


def job(sweep, overrides: bytes, hydra=None):
    d = sweep / "0" / ".hydra"
    d.mkdir(parents=True)
    (d / "overrides.yaml").write_bytes(overrides)
    (d / "hydra.yaml").write_text(yaml.safe_dump(hydra or {"hydra": {"job": {"name": "train"}}}))
    (d / "config.yaml").write_text(yaml.safe_dump({"seed": 0, "rung": "mlp"}))


@pytest.mark.parametrize(
    "overrides, hydra, match",
    [
        (b"- seed=\xff\n", None, r"overrides.yaml is not readable YAML \('utf-8' codec can't decode"),
        (b"- [seed=0\n", None, r"overrides.yaml is not readable YAML \("),
        (b"7\n", None, r"overrides.yaml holds 7, not a list of overrides \(strings\)"),
        (b"- seed: 0\n", None, r'overrides.yaml holds \[\{"seed": 0\}\], not a list of overrides'),
        (b"[]\n", {"hydra": "train"}, r"hydra.yaml has no hydra.job mapping"),
        (b"[]\n", ["train"], r'hydra.yaml holds \["train"\], not a mapping'),
    ],
)
def test_hydra_files_that_cannot_be_read_are_named(tmp_path, overrides, hydra, match):
    job(tmp_path, overrides, hydra)
    with pytest.raises(ReportError, match=match + r".*; Hydra wrote it when the job started: re-run the job"):
        collect(tmp_path)


@pytest.mark.parametrize(
    "text, match",
    [
        ("rung,n,val_nll\nmlp,2,2.1\nrnn,2,low\n", r'side.csv: column val_nll, line 3 holds "low", not a number'),
        ("rung,n,val_nll\nmlp,x,2.1\n", r'side.csv: column n, line 2 holds "x", not a number'),
        ("rung,n,val_nll\nmlp,2,inf\n", r"side.csv: column val_nll, line 2 holds inf, not a number"),
        ("rung,seed,status,val_nll\nmlp,0,ok,2.1\nmlp,1,ok,?\n", r'column val_nll, line 3 holds "\?", not a number'),
    ],
)
def test_a_table_cell_that_is_no_number_is_named(tmp_path, text, match):
    (tmp_path / "side.csv").write_text(text)
    with pytest.raises(ReportError, match=match + r"; fix that cell, or re-run `lmladder report`"):
        load(str(tmp_path / "side.csv"))


def test_a_finished_run_without_a_score_is_not_averaged_over(tmp_path):
    (tmp_path / "runs.csv").write_text("rung,seed,status,val_nll\nmlp,0,ok,2.1\nmlp,1,ok,\nmlp,2,failed,\n")
    with pytest.raises(ReportError, match=r"runs.csv: line 3 is a finished run with no val_nll; fix that cell"):
        load(str(tmp_path / "runs.csv"))


def test_an_empty_cell_is_a_failed_configuration(tmp_path):
    (tmp_path / "side.csv").write_text("rung,n,val_nll\nmlp,2,2.1\nrnn,0,\n")
    t = load(str(tmp_path / "side.csv"))
    assert t.summary["val_nll"].iloc[0] == 2.1 and math.isnan(t.summary["val_nll"].iloc[1])


@pytest.mark.parametrize(
    "data, match",
    [
        ({"checkpoint": "m.safetensors", "text": "t.txt", "rung": "mlp", "nll": 2.0}, r"is what `lmladder evaluate`"),
        ({"mlp": {"val_nll": "2.1"}}, r'side.json: mlp.val_nll is "2.1", not a number'),
        ({"mlp": 2.1}, r"side.json: mlp is 2.1, not an object of scores"),
        ([{"val_nll": 2.1}], r"side.json holds \[.*, not an object of settings"),
        ({}, r"side.json holds \{\}, not an object of settings"),
    ],
)
def test_a_json_side_is_checked(tmp_path, data, match):
    (tmp_path / "side.json").write_text(json.dumps(data))
    with pytest.raises(ReportError, match=match + r".*; give a perplexity.csv, runs.csv or the evaluate stage's"):
        load(str(tmp_path / "side.json"))


def test_the_evaluate_stage_metrics_json_still_loads(tmp_path):
    (tmp_path / "metrics.json").write_text(json.dumps({"mlp": {"val_nll": 2.1, "val_nll_std": 0.1, "n": 2}}))
    t = load(str(tmp_path / "metrics.json"))
    assert t.by == ["setting"] and t.summary["val_nll"].iloc[0] == 2.1 and t.summary["n"].iloc[0] == 2


@pytest.mark.parametrize(
    "name, text, match",
    [
        ("side.csv", "rung,n,val_nll\nmlp,2,2.1\nrnn,2,2.0\nmlp,2,2.2\n", r"side.csv: lines 2 and 4 are both rung=mlp; "
         r"a report table has one row per setting: delete one, or re-run `lmladder report`"),
        ("side.csv", "rung,n,val_nll\nmlp,-2,2.1\n", r"side.csv: column n, line 2 holds -2, not a count of seeds"),
        ("side.csv", "rung,n,val_nll\nmlp,1.5,2.1\n", r"side.csv: column n, line 2 holds 1.5, not a count of seeds"),
        ("side.csv", "rung,n,val_nll,val_nll_std\nmlp,2,2.1,-0.1\n",
         r"side.csv: column val_nll_std, line 2 holds -0.1, not a spread \(>= 0\)"),
        ("side.json", '{"mlp": {"val_nll": 2.1, "n": -1}}', r"side.json: mlp.n is -1, not a count of seeds"),
    ],
)  # fmt: skip
def test_a_summary_lists_each_setting_once_with_a_count_and_spreads(tmp_path, name, text, match):
    """A setting twice (two tables pasted together) was paired with each row of the other side."""
    (tmp_path / name).write_text(text)
    with pytest.raises(ReportError, match=match):
        load(str(tmp_path / name))
