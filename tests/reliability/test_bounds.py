"""Issue 70, what the case tables (cases_bounds.py) cannot hold: a Ctrl-C at a precise moment of a stage's start-up,
variables read as lmladder is imported (OMP_NUM_THREADS, a missing psutil), `frontier fit` of plain sweep folders,
a study point that fails on its own files, and the bounds themselves (YAML nodes, sizes, the teacher's estimate)."""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import sys
import tomllib
import tracemalloc

import numpy as np
import pandas as pd
import pytest
import yaml

from lmladder.environment import omp_threads
from lmladder.frontier.fits.bootstrap import cells
from lmladder.io.yaml_text import ENDLESS, MAX_NODES, check_yaml, expanded_size
from lmladder.resources import MemoryBudgetError, parse_bytes
from lmladder.training.teacher import NgramTeacher, TeacherSettings

from .bounds_files import laughs
from .harness import ROOT, THREADS, Sandbox, run_in_process, shared_file

ENV = {**THREADS, "PYTHONUNBUFFERED": "1"}


def _python(args, tmp_path, env=None, **kw) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if k not in ("LMLADDER_DEBUG", "DVC_STAGE")}
    return subprocess.run([sys.executable, *args], cwd=tmp_path, env={**full, **ENV, **(env or {})},
                          capture_output=True, text=True, timeout=300, **kw)  # fmt: skip


# ---------------------------------------------------------------- class 4: Ctrl-C while a stage starts
@pytest.mark.parametrize(
    "moment, said",
    [
        ("import:hydra", "interrupted while starting, before any work; run it again"),
        ("import:lmladder.app.policy", "interrupted while starting, before any work; run it again"),
        ("compose", "interrupted; rerun with resume=true to continue from the last checkpoint"),
    ],
)
def test_ctrl_c_while_a_stage_starts_is_one_line_and_exit_130(moment, said, tmp_path):
    stage = [str(ROOT / "stages" / "train.py"), "rung=mlp", f"hydra.run.dir={tmp_path / 'run'}"]
    r = _python([str(ROOT / "tests" / "reliability" / "sigint_at.py"), moment, *stage], tmp_path)
    assert r.returncode == 130 and "Traceback" not in r.stderr, r.stderr
    assert r.stderr.strip().splitlines()[-1] == f"lmladder mlp: {said}", r.stderr
    assert not (tmp_path / "run" / "model.safetensors").exists()


def test_ctrl_c_while_the_command_loads_is_one_line(tmp_path):
    args = [str(ROOT / "tests" / "reliability" / "sigint_at.py"), "import:lmladder.cli.sample", "-m", "lmladder"]
    r = _python([*args, "sample", "x.safetensors"], tmp_path)
    assert r.returncode == 130, r.stderr
    assert r.stderr == "lmladder sample: interrupted while starting, before any work; run it again\n"


@pytest.mark.parametrize("moment", ["import:numpy", "import:lmladder.cli.sample"])
def test_ctrl_c_while_the_console_script_loads_is_one_line(moment, tmp_path):
    """`lmladder` as pip installs it: a script that imports pyproject's entry point (lmladder.cli:main) and calls
    it. Its imports were outside any guard: a Ctrl-C there was a traceback, where `python -m lmladder` said one
    line."""
    module, func = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]["lmladder"].split(":")
    script = tmp_path / "bin" / "lmladder"
    script.parent.mkdir()
    script.write_text(f"import sys\nfrom {module} import {func}\nif __name__ == '__main__':\n    sys.exit({func}())\n")
    r = _python([str(ROOT / "tests" / "reliability" / "sigint_at.py"), moment, str(script), "sample", "x"], tmp_path)
    assert r.returncode == 130, r.stderr
    assert r.stderr == "lmladder sample: interrupted while starting, before any work; run it again\n"


# ---------------------------------------------------------------- class 9: variables read at import
@pytest.mark.parametrize(
    "value, threads",
    [("4", 4), ("4,2", 4), (" 3 , 2 ", 3), ("+2", 2), ("", None), ("  ", None), ("0", None), ("4,0", None),
     ("4,", None), ("two", None), ("\u0664", None), ("99999999999999999999", None), ("2.5", None)],
)  # fmt: skip
def test_omp_num_threads_is_read_as_openmp_reads_it(value, threads):
    assert omp_threads(value) == threads  # "\u0664": an Arabic-Indic four, which int() takes and libgomp does not


@pytest.mark.parametrize("value, ok", [("4,2", True), ("", True), ("\u0664", False)])
def test_thread_variables_openmp_takes_pass_and_others_are_one_line(value, ok, tmp_path):
    r = _python(["-m", "lmladder", "sample", "x.safetensors"], tmp_path, env={"OMP_NUM_THREADS": value})
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert ("no checkpoint" in r.stderr or "x.safetensors" in r.stderr) if ok else "OMP_NUM_THREADS=" in r.stderr
    if not ok:
        assert r.stderr.endswith("or one per nesting level, e.g. 4,2; set it to e.g. 2, or unset it\n"), r.stderr


def test_a_missing_psutil_is_one_line_naming_pip(tmp_path):
    code = "import sys, runpy; sys.modules['psutil'] = None; sys.argv = ['lmladder', 'sample', 'x.safetensors']; "
    r = _python(["-c", code + "runpy.run_module('lmladder', run_name='__main__')"], tmp_path)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert r.stderr == (
        "lmladder sample: error: the Python package psutil is not installed (the cores and memory lmladder may "
        "use); install it: pip install psutil\n"
    )


@pytest.mark.parametrize(
    "text, size",
    [("512M", 512 << 20), ("512MB", 512 << 20), ("1 TB", 1 << 40), ("8GiB", 8 << 30), ("0.5G", 512 << 20),
     (" 1.5 g ", 3 << 29), ("1e9", 10**9), ("4096", 4096), ("0.1G", 107374182), ("100b", 100)],
)  # fmt: skip
def test_memory_limit_sizes(text, size):
    assert parse_bytes(text) == size


@pytest.mark.parametrize(
    "text, said",
    [("0.5", "a fraction of a byte"), ("1.5", "a fraction of a byte"), ("0", "leaves no memory"),
     ("0.0001K", "leaves no memory"), ("lots", "is not a size"), ("1e999999999", "is not a size"),
     ("9" * 5000, "is not a size"), ("inf", "is not a size"), ("-1G", "is not a size")],
)  # fmt: skip
def test_memory_limits_that_are_not_sizes(text, said):
    with pytest.raises(MemoryBudgetError, match=said):
        parse_bytes(text)


# ---------------------------------------------------------------- class 7: YAML counted before it is built
def test_yaml_is_counted_with_its_aliases_expanded():
    # the mapping and its 3 keys; a0: a list of 10 strings; a1: a list of 10 a0s; a2: a list of 10 a1s
    assert expanded_size(yaml.compose(laughs(3))) == 1 + 3 + 11 + (1 + 10 * 11) + (1 + 10 * 111)
    assert expanded_size(yaml.compose(laughs(9))) > MAX_NODES  # 10^9 strings, counted in a few steps
    assert expanded_size(yaml.compose("a: &a [1, *a]")) == ENDLESS
    for preset in (ROOT / "conf" / "frontier").glob("*.yaml"):
        check_yaml(preset.read_text(), str(preset), ValueError)


@pytest.mark.parametrize(
    "text, said",
    [(laughs(), "holds more than 10,000 values"), ("a: &a [1, *a]", "inside its own anchor"),
     ("[" + "1, " * 20000 + "1]", "holds more than 10,000 values")],
)  # fmt: skip
def test_yaml_over_the_bound_is_refused(text, said):
    with pytest.raises(ValueError, match=said):
        check_yaml(text, "f.yaml", ValueError)


# ---------------------------------------------------------------- the teacher's estimate
def test_the_teacher_estimate_covers_what_it_takes(monkeypatch):
    text = shared_file("names.txt").read_text()[:60000]
    vocab = sorted(set(text))
    tokens = np.array([vocab.index(c) for c in text], dtype=np.int64)
    monkeypatch.setenv("LMLADDER_MEMORY_LIMIT", "4M")  # over the counting (2.7 MiB), under the tables
    with pytest.raises(MemoryBudgetError, match=r"teacher.order=5 .* needs about ([\d.]+) MiB") as e:
        NgramTeacher(tokens, len(vocab), TeacherSettings(order=5, weight=0.3))
    estimate = float(re.search(r"needs about ([\d.]+) MiB", str(e.value)).group(1)) * 2**20
    monkeypatch.delenv("LMLADDER_MEMORY_LIMIT")
    tracemalloc.start()
    NgramTeacher(tokens, len(vocab), TeacherSettings(order=5, weight=0.3))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak <= estimate <= 2.5 * peak, (peak, estimate)


# ---------------------------------------------------------------- frontier: plain sweeps, a broken point
@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """conf/ and stages/ in a folder, the names corpus, two finished tiny MLP runs of a sweep (seeds 0 and 1), their
    data prepared under prep/ (so the folder holds no data/ of its own)."""
    root = tmp_path_factory.mktemp("bounds")
    for d in ("conf", "stages"):
        shutil.copytree(ROOT / d, root / d, ignore=shutil.ignore_patterns("__pycache__"))
    (root / "corpora").mkdir()
    (root / "corpora" / "names.txt").write_text("\n".join(shared_file("names.txt").read_text().split()[:1500]) + "\n")
    sb = Sandbox(root)
    for seed in (0, 1):
        r = run_in_process(sb, "mlp", [f"seed={seed}", f"paths.prepared={root}/prep/prepared"], f"{root}/sweep/{seed}")
        assert r.rc == 0, r.stderr
    return sb


def test_cells_of_runs_without_a_budget_kind():
    """A sweep's runs have no kind or budget (None, NaN): pandas 3's astype(str) kept them missing, and the cells'
    join failed ("sequence item 2: expected str instance, float found")."""
    keys = pd.DataFrame({"rung": ["mlp", "mlp", "rnn"], "size": ["-", "-", "-"], "kind": [None, None, None],
                         "budget": [np.nan, np.nan, 5.0]})  # fmt: skip
    assert list(cells(keys)) == [0, 0, 1]


@pytest.mark.slow
def test_frontier_fit_reads_plain_sweep_folders_and_writes_no_data_here(project):
    root = project.root
    r = run_in_process(project, "cli", ["frontier", "fit", f"{root}/sweep", "--out", f"{root}/fit"], "")
    assert r.rc == 0, r.stderr
    runs = pd.read_csv(root / "fit" / "runs.csv")
    assert len(runs) == 2 and runs["kind"].isna().all() and np.isfinite(runs["epochs"]).all()
    assert not (root / "data").exists(), "fit wrote a copy of the corpus into the current folder's data/"


@pytest.mark.slow
def test_a_point_that_fails_on_its_own_files_names_moving_its_folder(project):
    root = project.root
    preset = {"name": "broken", "seeds": [0], "budgets": {"flops": [1.0e9]},
              "overrides": ["data.source=file", f"data.path={root}/corpora/names.txt",
                            f"paths.prepared={root}/prep/prepared", "mlp.train.eval.iters=2"],
              "rungs": {"mlp": {"overrides": ["mlp.optim.schedule.warmup_iters=0"],
                                "sizes": {"n_hidden": [32]}}}}  # fmt: skip
    (root / "broken.yaml").write_text(yaml.safe_dump(preset))
    assert run_in_process(project, "cli", ["frontier", "plan", "broken.yaml", "--out", "study"], "").rc == 0
    pid = json.loads((root / "study" / "plan.json").read_text())["points"][0]["id"]
    (root / "study" / "runs" / pid).mkdir(parents=True)
    (root / "study" / "runs" / pid / "model.safetensors").write_bytes(b"\x00" * 64)  # a checkpoint cut short
    r = _python(["-m", "lmladder", "frontier", "run", "study"], root)  # and so on every rerun: it resumes from it
    assert r.returncode == 2 and r.stderr.splitlines()[-1].endswith(
        "a corrupt checkpoint, starts over once its folder is moved out of study/runs)"
    ), r.stderr
    shutil.move(root / "study" / "runs" / pid, root / f"{pid}.broken")  # what the message says
    r = _python(["-m", "lmladder", "frontier", "run", "study"], root)
    assert r.returncode == 0, r.stderr
    assert math.isfinite(json.loads((root / "study" / "runs" / pid / "metrics.json").read_text())["val"]["nll"])
