"""`lmladder compare` and `lmladder report` on real tiny runs with unit scores: a run against itself, seeds of one
config against each other (calibration), a trained MLP against the bigram, and runs on different splits."""

import re
import shutil
from dataclasses import replace

import numpy as np
import pytest

from lmladder.cli import main
from lmladder.data import load_prepared, load_text, prepare_corpus
from lmladder.inference.units import UnitsError
from lmladder.models import rung_class
from lmladder.reports import significance as sig
from lmladder.reports.compare import load
from lmladder.reports.paired import compare_units
from lmladder.training import CheckpointSettings, EvalSettings, Run, run_rung
from lmladder.training.settings import OptimSettings, SampleSettings, TrainSettings

from ..shared_data import shared_file

PAIRS = 20  # 21 groups of two seeds: 20 neighbouring pairs (slow: 42 tiny runs)


def train(rung, data, seed, out, **model):
    cls = rung_class(rung)
    steps = 300
    train = TrainSettings(
        max_iters=steps, batch_size=32, eval=EvalSettings(interval=steps, iters=1),
        checkpoint=CheckpointSettings(interval=steps), health_interval=0, progress=False,
    )  # fmt: skip
    return run_rung(Run(
        cls, replace(cls.Config(), **model), data, sample=SampleSettings(num_samples=1, sample_tokens=4),
        optim=OptimSettings(lr=0.01), train=train, seed=seed, out_dir=out, meta={}, log=lambda *a: None,
    ))  # fmt: skip


def groups(root, data, n_groups):
    """grp<g>/mlp/seed<2g, 2g+1>: a tiny MLP (300 steps) on names, two seeds a group, in the pipeline's layout."""
    for s in range(2 * n_groups):
        train("mlp", data, s, root / f"grp{s // 2}" / "mlp" / f"seed{s}", n_embd=8, n_hidden=32)
    return root


@pytest.fixture(scope="module")
def runs(tmp_path_factory, names_prepared):
    """One group of two MLP seeds and big/bigram/seed0."""
    root = groups(tmp_path_factory.mktemp("paired"), names_prepared, 1)
    train("bigram", names_prepared, 0, root / "big" / "bigram" / "seed0")
    return root


def test_a_run_against_itself_is_zero_and_not_significant(runs, capsys):
    assert main(["compare", str(runs / "grp0"), str(runs / "grp0"), "--out", str(runs / "self")]) == 0
    out = capsys.readouterr().out
    assert re.search(r"\| mlp +\| \+0.0000 \[\+0.0000, \+0.0000\]", out) and "not significant" in out
    assert "better" not in out and "worse" not in out


@pytest.mark.slow
def test_seeds_of_one_config_are_not_significant_in_18_of_20_pairs(tmp_path, names_prepared):
    runs = groups(tmp_path, names_prepared, PAIRS + 1)
    verdicts = []
    for g in range(PAIRS):
        a, b = load(str(runs / f"grp{g}")), load(str(runs / f"grp{g + 1}"))
        verdicts.append(compare_units(a.summary, a.by, b.summary, b.by, a.units, b.units)["val_verdict"].item())
    assert verdicts.count("not significant") >= 18, verdicts


def test_the_mlp_against_the_bigram_is_significant(runs):
    mlp, big = load(str(runs / "grp0")).units["mlp"], load(str(runs / "big")).units["bigram"]
    res = sig.paired(sig.pool([u["val"] for u in big]), sig.pool([u["val"] for u in mlp]))
    assert res["nll_hi"] < 0 and sig.verdict(res["nll_delta"], res["nll_p"]) == "better"


def test_the_report_shows_intervals_and_compare_reads_them_back(runs, capsys):
    shutil.copytree(runs / "big" / "bigram", runs / "both" / "bigram")
    shutil.copytree(runs / "grp0" / "mlp", runs / "both" / "mlp")
    assert main(["report", str(runs / "both")]) == 0
    md = (runs / "both" / "report" / "perplexity.md").read_text()
    assert "val NLL 95%" in md and "vs bigram" in md
    assert (runs / "both" / "report" / "units" / "mlp" / "seed0.npz").is_file()
    assert main(["report", str(runs / "both"), "--out", str(runs / "again")]) == 0
    capsys.readouterr()
    assert main(["compare", str(runs / "both" / "report"), str(runs / "again")]) == 0
    assert re.search(r"\| mlp/char +\| \+0.0000 \[\+0.0000, \+0.0000\]", capsys.readouterr().out)


def test_runs_on_another_split_are_refused(runs, tmp_path, capsys):
    text = load_text("file", path=shared_file("names.txt"))
    prepare_corpus(text, kind="lines", tokenizer="char", out_dir=tmp_path / "prepared", split_seed=7)
    train("mlp", load_prepared(tmp_path / "prepared"), 0, tmp_path / "other" / "mlp" / "seed0", n_embd=8, n_hidden=32)
    a, b = load(str(runs / "grp0")), load(str(tmp_path / "other"))
    with pytest.raises(UnitsError, match="different val texts or splits"):
        compare_units(a.summary, a.by, b.summary, b.by, a.units, b.units)
    assert np.isfinite(a.summary["val_nll"]).all()
