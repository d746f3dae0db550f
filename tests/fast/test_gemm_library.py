"""LMLADDER_GEMM: NumPy's OpenBLAS by default, Intel MKL's sgemm on request (gemm_library.py). A bad name and a
missing MKL are refused with their fix; with MKL installed, the GEMM and attention kernels keep their promises
(the same numbers to float32 rounding, the same bits at 1 and 2 threads) and a training run repeats bit for bit."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from lmladder.fast import KernelError, gemm_library

ROOT = Path(__file__).resolve().parents[2]


def _has_mkl() -> bool:
    try:
        gemm_library.mkl()
    except KernelError:
        return False
    return True


needs_mkl = pytest.mark.skipif(not _has_mkl(), reason="Intel MKL is not installed (pip install 'lmladder[mkl]')")


def test_openblas_is_the_default(monkeypatch):
    monkeypatch.delenv(gemm_library.ENV, raising=False)
    assert gemm_library.choice() == "openblas"
    assert gemm_library.library()[1] == gemm_library.OPENBLAS_SYMBOL


def test_an_unknown_library_is_refused_with_the_choices(monkeypatch):
    monkeypatch.setenv(gemm_library.ENV, "cublas")
    with pytest.raises(KernelError, match=r"LMLADDER_GEMM='cublas' is not a GEMM library; set it to openblas"):
        gemm_library.choice()


def test_a_missing_mkl_is_refused_with_the_install_command(monkeypatch, tmp_path):
    monkeypatch.setenv(gemm_library.ENV, "mkl")
    monkeypatch.setattr(gemm_library.sys, "prefix", str(tmp_path))  # no lib/libmkl_rt.so* here
    monkeypatch.setattr(gemm_library.ctypes.util, "find_library", lambda name: None)
    with pytest.raises(KernelError, match=r"pip install 'lmladder\[mkl\]'"):
        gemm_library.library()


@needs_mkl
def test_the_kernel_tests_pass_with_mkl():
    env = {**os.environ, gemm_library.ENV: "mkl"}
    tests = ["tests/fast/test_kernels_blas.py", "tests/fast/test_attention.py", "-k", "not another_blas"]
    argv = [sys.executable, "-m", "pytest", "-q", "-n", "0", "-p", "no:cacheprovider", *tests]
    r = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]


_TRAIN = """
import sys, numpy as np
from lmladder import fast
from lmladder.fast import kernels_blas
from lmladder.models.transformer import GPT, GPTConfig
from lmladder import nn
assert fast.gemm() == "mkl" and kernels_blas.SYMBOL == "cblas_sgemm_64"
fast.set_threads(int(sys.argv[1]))
rng = np.random.default_rng(0)
model = GPT(GPTConfig(vocab_size=65, block_size=64, n_layer=2, n_head=4, n_embd=128), rng=rng)
opt = nn.AdamW(nn.decay_groups(model.named_parameters(), 0.1), lr=1e-3)
data = np.random.default_rng(1).integers(0, 65, (12, 65))
for _ in range(5):
    _, loss = model(data[:, :-1], data[:, 1:])
    loss.backward()
    opt.step()
    opt.zero_grad()
print(repr(float(loss.data)), float(sum(np.abs(p.data).sum() for p in model.parameters())).hex())
"""


@needs_mkl
def test_a_training_run_on_mkl_repeats_bit_for_bit_at_one_and_two_threads():
    env = {**os.environ, gemm_library.ENV: "mkl"}
    runs = [subprocess.run([sys.executable, "-c", _TRAIN, t], env=env, capture_output=True, text=True, timeout=600)
            for t in ("2", "1", "2")]  # fmt: skip
    for r in runs:
        assert r.returncode == 0, r.stderr[-3000:]
    assert runs[0].stdout == runs[1].stdout == runs[2].stdout
