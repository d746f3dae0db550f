"""The path without NumPy's OpenBLAS is a tested path. On macOS NumPy's wheels multiply with Apple's Accelerate, and
a NumPy built on MKL has no OpenBLAS either: lmladder's lookup of that OpenBLAS fails, and its compiled GEMM and
attention kernels give way to NumPy's matmul. With the lookup failing here as it fails there (tests/no_openblas.py),
the contract tests of every rung pass, and every rung trains, samples and scores to the numbers it gets with
OpenBLAS, within float32 round-off (scripts/smoke.py); the run says which GEMMs it uses."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ..shared_data import shared_file

pytestmark = pytest.mark.slow  # each test runs every rung again in fresh processes (30-40 s each)

ROOT = Path(__file__).resolve().parents[2]
HANG = 1800  # seconds: a guard against a hang, never a speed check
ENV = {k: v for k, v in os.environ.items() if k not in ("LMLADDER_KERNELS", "LMLADDER_GEMM")} | {
    "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}  # fmt: skip


def python(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=HANG)


def test_the_contract_tests_of_every_rung_pass_without_openblas():
    contract = "tests/models/test_contract.py"
    # not -q: the plugin's header shows; -n 0: in one process
    r = python("-m", "pytest", "-n", "0", "-p", "no:cacheprovider", "-p", "tests.no_openblas", contract)
    assert "NumPy's OpenBLAS hidden; fast.gemm() = 'numpy'" in r.stdout, r.stdout[-3000:] + r.stderr[-3000:]
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]


SMOKE_WITHOUT_OPENBLAS = """
import runpy, sys
from tests import no_openblas
no_openblas.hide()
sys.argv = ["scripts/smoke.py", *sys.argv[1:]]
runpy.run_path("scripts/smoke.py", run_name="__main__")
"""


def test_every_rung_trains_samples_and_scores_to_the_same_numbers_without_openblas(tmp_path):
    names = str(shared_file("names.txt"))
    a, b = str(tmp_path / "openblas.json"), str(tmp_path / "numpy.json")
    for r in (python("scripts/smoke.py", "--corpus", names, "--out", a),
              python("-c", SMOKE_WITHOUT_OPENBLAS, "--corpus", names, "--out", b)):  # fmt: skip
        assert r.returncode == 0, r.stderr[-3000:]
    with_blas, without = (json.loads(Path(f).read_text(encoding="utf-8")) for f in (a, b))
    assert (with_blas["gemm"], without["gemm"]) == ("openblas", "numpy")
    assert with_blas["kernels_line"].startswith("kernels: compiled, GEMMs by NumPy's OpenBLAS; ")
    assert without["kernels_line"].startswith("kernels: compiled, GEMMs by NumPy's matmul; ")
    r = python("scripts/smoke.py", "--compare", a, b)
    assert r.returncode == 0 and "the same numbers within float32 round-off" in r.stdout, r.stdout
