"""Model FLOPs utilisation on a run's last line: the model's own FLOPs per token x tokens/s over this machine's
float32 GEMM peak, measured once per machine and thread count and kept in the user's cache folder (here a
temporary one: XDG_CACHE_HOME)."""

import json
import math
import os
import platform
import shutil
import sys
from pathlib import Path

import pytest

from lmladder.data import DataConfig, prepare
from lmladder.models.bigram import NGram, NGramConfig
from lmladder.models.mlp import MLP, MLPConfig
from lmladder.resources import cpu_model
from lmladder.training import OptimSettings, Run, TrainSettings, mfu

from ..reliability.harness import ROOT, Sandbox, run_subprocess
from ..shared_data import shared_file


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A cache folder of the test's own, and small products (the peak's size does not change what is tested)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(mfu, "PEAK_N", 256)
    return tmp_path / "cache" / "lmladder" / mfu.CACHE_NAME


def test_the_peak_is_the_fastest_of_its_products():
    rates = mfu.gemm_rates(1, n=128, repeats=3)
    assert len(rates) == 3 and all(r > 0 and math.isfinite(r) for r in rates)
    assert mfu.gemm_peak(1, n=128, repeats=3) > 0


def test_the_peak_is_kept_under_the_cpus_name_and_numbers(monkeypatch):
    """A VM's plain "AMD EPYC" names several generations: Linux's family and model numbers tell them apart; an OS
    with no record of its own gives platform's name."""
    if sys.platform.startswith("linux") and "model name" in Path("/proc/cpuinfo").read_text():
        name = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
        assert cpu_model().startswith(f"{name} (family ") and cpu_model().endswith(")")
    assert mfu.machine_key(2).startswith(f"{cpu_model()}, {os.cpu_count()} cores, ")
    monkeypatch.setattr(sys, "platform", "plan9")
    assert cpu_model() == (platform.processor() or platform.machine() or "unknown")


def test_a_kept_peak_is_read_not_measured_again(cache):
    assert mfu.kept_peak(2) is None
    measured = mfu.machine_peak(2)  # none kept: measured and kept
    assert measured > 0 and mfu.kept_peak(2) == measured
    assert json.loads(cache.read_text()) == {mfu.machine_key(2): measured}
    assert mfu.keep_peak(2, 123e9) and mfu.machine_peak(2) == 123e9  # a kept value comes back as it is
    assert mfu.kept_peak(1) is None  # kept per thread count
    cache.unlink()
    assert mfu.machine_peak(2) not in (None, 123e9)  # deleting the file measures again


@pytest.mark.parametrize("content", ["not json", "[1, 2]", '{"%s": -1}', '{"%s": "fast"}'])
def test_a_broken_cache_is_measured_around(cache, content):
    cache.parent.mkdir(parents=True)
    cache.write_text(content.replace("%s", mfu.machine_key(1)))
    peak = mfu.machine_peak(1)
    assert peak > 0 and mfu.kept_peak(1) == peak  # and the file repaired


def test_a_cache_folder_that_cannot_be_written_is_no_error(tmp_path, monkeypatch):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))  # the cache folder would be inside a file
    monkeypatch.setattr(mfu, "PEAK_N", 256)
    assert not mfu.keep_peak(1, 1e9)
    assert mfu.machine_peak(1) > 0 and mfu.kept_peak(1) is None


def test_a_runs_speed_says_its_mfu_from_its_own_counts(cache, tiny_names, tmp_path):
    run = Run(cls=MLP, config=MLPConfig(), data=tiny_names, seed=0, out_dir=tmp_path / "run",
              optim=OptimSettings(), train=TrainSettings())  # fmt: skip
    threads = mfu.run_threads()
    mfu.keep_peak(threads, 2e9)
    per_token = run.config.counts().flops_per_token
    said = mfu.run_speed(run, 1000.0)
    on = f"on {threads} thread{'s' if threads > 1 else ''}"
    assert said == f"1,000 tokens/s, MFU {per_token * 1000 / 2e9:.2f} of 2 GFLOP/s {on}"
    assert mfu.run_speed(run, math.nan) == ""  # no timed steps (a resume without timing.json)
    counted = Run(cls=NGram, config=NGramConfig(), data=tiny_names, seed=0, out_dir=tmp_path / "bigram")
    assert mfu.run_speed(counted, 1e6) == ""  # a counted rung has no FLOPs per token


def test_the_training_stage_ends_with_its_mfu(tmp_path):
    sb = Sandbox(tmp_path)
    for d in ("conf", "stages"):
        shutil.copytree(ROOT / d, tmp_path / d, ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "corpora").mkdir()
    names = shared_file("names.txt").read_text().splitlines()[:1500]
    (tmp_path / "corpora" / "names.txt").write_text("\n".join(names) + "\n")
    prepare(DataConfig(source="file", path=str(tmp_path / "corpora" / "names.txt")), tmp_path / "data" / "prepared")
    r = run_subprocess(
        sb, "mlp", [], str(tmp_path / "run"), env={"XDG_CACHE_HOME": str(tmp_path / "cache")}, timeout=600
    )
    assert r.rc == 0, r.stderr
    last = [line for line in r.stdout.splitlines() if line.startswith("[mlp] val NLL")]
    assert len(last) == 1 and " tokens/s, MFU " in last[0] and " GFLOP/s on 1 thread) -> " in last[0], r.stdout
    kept = json.loads((tmp_path / "cache" / "lmladder" / mfu.CACHE_NAME).read_text())  # OMP_NUM_THREADS=1
    assert len(kept) == 1 and next(iter(kept)).endswith(", threads=1")
