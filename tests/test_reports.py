"""The evaluate stage's report (real stage, real checkpoints, in the reliability sandbox): metrics.json holds
quality only, with a spread only where there is one, and every DVC output is byte-identical when evaluate runs
again on the same checkpoints, even after the wall-clock timings changed (they go to timing.csv/md only)."""

import json
import shutil

import pandas as pd
import pytest

from lmladder.reports.names import SCORES, TIMINGS

from .reliability.harness import Sandbox, build_base, run_in_process, train_good

DVC_OUTS = (
    "perplexity.csv",
    "perplexity.md",
    "perplexity.png",
    "runs.csv",
    "metrics.json",
    "curves",
    "health.csv",
    "health.md",
    "units",
)


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory):
    """bigram seed 0 and two copies of a finished MLP run (seeds 0, 1) in outputs/; evaluate run twice, the MLP's
    timing.json rewritten in between (as if trained on another machine)."""
    sb = build_base(tmp_path_factory.mktemp("reports"))  # with one finished MLP run: all the report reads
    train_good(sb)
    out = sb.root / "outputs"
    for seed in (0, 1):
        shutil.copytree(sb.root / "runs" / "good", out / "mlp" / f"seed{seed}", ignore=shutil.ignore_patterns(".hydra"))
    r = run_in_process(sb, "bigram", [], str(out / "bigram" / "seed0"))
    assert r.rc == 0, r.stderr
    first = run_in_process(sb, "evaluate", ["seeds=[0,1]"], str(sb.root / "eval1"))
    assert first.rc == 0, first.stderr
    (out / "mlp" / "seed0" / "timing.json").write_text(json.dumps({"train_time_s": 99.0, "tokens_per_s": 7.0}))
    second = run_in_process(sb, "evaluate", ["seeds=[0,1]"], str(sb.root / "eval2"))
    assert second.rc == 0, second.stderr
    return sb.root / "eval1", sb.root / "eval2", out


JOBS = ("bigram/seed0", "mlp/seed0", "mlp/seed1")


def dvc_outs(folder):
    """Every file of evaluate's DVC outputs (dvc.yaml) in `folder`, by relative path."""
    files = [p for name in DVC_OUTS for p in ([folder / name] if "." in name else (folder / name).rglob("*.*"))]
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in files}


def test_dvc_outputs_are_byte_identical_across_evaluate_runs(evaluated):
    a, b, _ = evaluated
    outs = dvc_outs(a)
    assert sorted(k for k in outs if k.startswith("curves/")) == ["curves/mlp_seed0.tsv", "curves/mlp_seed1.tsv"]
    assert sorted(k for k in outs if k.startswith("units/")) == [f"units/{j}.npz" for j in JOBS]  # fixed zip dates
    assert outs == dvc_outs(b)
    assert (a / "timing.csv").read_bytes() != (b / "timing.csv").read_bytes()  # the wall clock went there


def test_metrics_json_is_quality_only_with_a_spread_only_over_several_seeds(evaluated):
    a, _, out = evaluated
    metrics = json.loads((a / "metrics.json").read_text())
    assert set(metrics) == {"bigram", "mlp"}
    assert set(metrics["bigram"]) == set(SCORES)  # one seed: no _std, no n
    assert set(metrics["mlp"]) == {*SCORES, *(f"{c}_std" for c in SCORES), "n"} and metrics["mlp"]["n"] == 2
    trained = json.loads((out / "mlp" / "seed0" / "metrics.json").read_text())
    assert metrics["mlp"]["val_nll"] == pytest.approx(trained["val"]["nll"], rel=1e-6)  # re-scored checkpoints
    assert metrics["mlp"]["val_nll_std"] == 0.0  # two copies of one checkpoint


def test_timings_go_to_the_timing_table_only(evaluated):
    a, b, _ = evaluated
    for name in ("perplexity.csv", "runs.csv", "perplexity.md"):
        text = (a / name).read_text()
        assert not any(t in text for t in TIMINGS) and "train s" not in text, name
    timing = pd.read_csv(b / "timing.csv").set_index("rung")
    assert timing.loc["mlp", "n"] == 2 and timing.loc["mlp", "tokens_per_s"] > 7.0
    good = json.loads((evaluated[2] / "mlp" / "seed1" / "timing.json").read_text())
    assert timing.loc["mlp", "train_time_s"] == pytest.approx((99.0 + good["train_time_s"]) / 2)
    assert "train s" in (b / "timing.md").read_text()


def test_evaluate_reports_the_rungs_of_the_pipeline_only(evaluated):
    """Rungs outside `pipeline` (bow, wavenet: trained by hand or in sweeps) never enter the DVC report, even when
    their runs lie in outputs/; `lmladder report outputs` still tabulates every rung it finds."""
    from lmladder.reports.collect import collect

    _, _, out = evaluated
    sb = Sandbox(out.parent)
    r = run_in_process(sb, "evaluate", ["seeds=[0,1]", "pipeline=[bigram]"], str(sb.root / "eval_bigram"))
    assert r.rc == 0, r.stderr
    assert set(json.loads((sb.root / "eval_bigram" / "metrics.json").read_text())) == {"bigram"}
    assert set(collect(out, seeds=[0], rungs=["mlp"]).table["rung"]) == {"mlp"}
    assert set(collect(out).table["rung"]) == {"bigram", "mlp"}


def test_the_report_shows_the_novelty_of_names_samples(evaluated):
    """Lines corpora: each run's share of new samples (metrics.json `samples`) becomes a novelty column."""
    a, _, out = evaluated
    table = pd.read_csv(a / "perplexity.csv").set_index("rung")
    for rung in ("bigram", "mlp"):
        samples = json.loads((out / rung / "seed0" / "metrics.json").read_text())["samples"]
        assert 0 <= samples["novelty"] <= 1 and table.loc[rung, "novelty"] == pytest.approx(samples["novelty"])
    assert "| novelty" in (a / "perplexity.md").read_text()
    assert "novelty" not in json.loads((a / "metrics.json").read_text())["mlp"]  # dvc metrics: the scores only
