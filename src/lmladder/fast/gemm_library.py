"""Which float32 GEMM the compiled kernels call (kernels_blas.py): NumPy's own OpenBLAS, the default, or Intel
MKL's, with LMLADDER_GEMM=mkl after `pip install 'lmladder[mkl]'`.

Why a second library: on an AVX-512 Xeon, MKL's sgemm ran the products of a nanoGPT-sized step 5-30% faster than
OpenBLAS's SkylakeX kernels, and the whole training step 9-14% faster (benchmarks/README.md, the log of 2026-11-25,
evening). The two compute other bits, so a run's numbers depend on the choice: OpenBLAS stays the default, and the
pipeline's numbers are its. MKL runs sequentially on each of numba's threads (the pool does the splitting, as for
OpenBLAS), in strict conditional-numerical-reproducibility mode: the same bits whatever the arrays' alignment, so
the same config and seed give the same bits on one machine, as with OpenBLAS.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
from pathlib import Path

from threadpoolctl import threadpool_info

from .switch import KernelError

ENV = "LMLADDER_GEMM"
CHOICES = ("openblas", "mkl")
OPENBLAS_SYMBOL = "scipy_cblas_sgemm64_"  # NumPy's wheels: OpenBLAS with 64-bit integers, renamed symbols
OPENBLAS_GEMV = "scipy_cblas_sgemv64_"  # what NumPy's matmul calls for a matrix times a vector
MKL_SYMBOL = "cblas_sgemm_64"  # MKL's ILP64 CBLAS
_MKL_SEQUENTIAL = 1  # MKL_THREADING_SEQUENTIAL
_MKL_CBWR_AUTO_STRICT = 2 | 0x10000  # MKL_CBWR_AUTO | MKL_CBWR_STRICT


def choice() -> str:
    """LMLADDER_GEMM's library, "openblas" when unset; an unknown name is refused with the choices."""
    name = os.environ.get(ENV) or "openblas"
    if name not in CHOICES:
        raise KernelError(f"{ENV}={name!r} is not a GEMM library; set it to openblas (the default) or mkl")
    return name


def openblas() -> str:
    """The path of NumPy's OpenBLAS; ImportError where NumPy's BLAS is another (kernels.py then keeps NumPy's)."""
    for pool in threadpool_info():
        if pool.get("internal_api") == "openblas":
            try:
                if hasattr(ctypes.CDLL(pool["filepath"]), OPENBLAS_SYMBOL):
                    return pool["filepath"]
            except OSError:
                continue
    raise ImportError(f"NumPy's BLAS has no {OPENBLAS_SYMBOL}: GEMMs stay with NumPy")


def mkl() -> str:
    """The path of MKL's runtime library (the `mkl` wheel puts it in the environment's lib/), set to run
    sequentially in strict reproducible mode; refused with the fix where it is missing."""
    found = sorted(Path(sys.prefix, "lib").glob("libmkl_rt.so*")) or [ctypes.util.find_library("mkl_rt")]
    path = str(found[0]) if found[0] else None
    try:
        lib = ctypes.CDLL(path) if path else None
    except OSError:
        lib = None
    if lib is None or not hasattr(lib, MKL_SYMBOL):
        raise KernelError(
            f"{ENV}=mkl but Intel MKL's runtime (libmkl_rt with {MKL_SYMBOL}) is not installed; "
            "pip install 'lmladder[mkl]' (x86-64), or unset it for NumPy's OpenBLAS"
        )
    lib.MKL_Set_Threading_Layer(_MKL_SEQUENTIAL)  # before any other MKL call: MKL's own pool stays off
    if lib.MKL_CBWR_Set(_MKL_CBWR_AUTO_STRICT) != 0:
        raise KernelError(f"{ENV}=mkl: this MKL refused strict reproducible mode; upgrade it (pip install -U mkl)")
    return path


def library() -> tuple[str, str]:
    """(path, sgemm symbol) of the chosen library."""
    return (mkl(), MKL_SYMBOL) if choice() == "mkl" else (openblas(), OPENBLAS_SYMBOL)
