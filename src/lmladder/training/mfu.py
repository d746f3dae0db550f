"""Model FLOPs utilisation (Chowdhery et al. 2022, PaLM, appendix B): the FLOPs the model itself needs per token
(Counts.flops_per_token, what the frontier's budgets count) times tokens per second, over what the machine's float32
matrix products reach: the best of a few (2048, 2048) @ (2048, 2048) products through NumPy's BLAS at the run's
thread count. So 1.0 would be a step that does nothing but its model's matrix products, at full speed.

The peak is measured once per machine, thread count and BLAS, after a run (never inside training: it changes no
bits and takes no step's time), and kept in the user's cache folder (platformdirs: ~/.cache/lmladder/gemm_peak.json
on Linux), so later runs only read it. One measured while other programs kept the cores busy is too low: delete the
file, or keep an idle measurement with `python benchmarks/bench_peak.py --threads N --keep`.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path

import numpy as np
import platformdirs
from threadpoolctl import threadpool_info, threadpool_limits

from .. import fast
from ..fast import share
from ..io import WriteError, atomic_write_json
from ..resources import cpu_model
from .settings import Run

PEAK_N, PEAK_REPEATS = 2048, 5
CACHE_NAME = "gemm_peak.json"


def gemm_rates(threads: int | None = None, n: int | None = None, repeats: int | None = None) -> list[float]:
    """FLOP/s of each of `repeats` (PEAK_REPEATS) float32 (n, n) @ (n, n) products (n: PEAK_N; 2 n^3 FLOPs each),
    after one untimed (thread start-up, page faults). `threads`: NumPy's BLAS runs on that many for the measurement
    (its count before comes back after); None: as it is set."""
    n, repeats = n or PEAK_N, repeats or PEAK_REPEATS
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    out = np.empty_like(a)
    rates = []
    with threadpool_limits(limits=threads, user_api="blas"):
        np.matmul(a, b, out=out)
        for _ in range(repeats):
            t = time.perf_counter()
            np.matmul(a, b, out=out)
            rates.append(2 * n**3 / (time.perf_counter() - t))
    return rates


def gemm_peak(threads: int | None = None, n: int | None = None, repeats: int | None = None) -> float:
    """The fastest of `gemm_rates`: the peak (a slower product met a busy core, not a slower machine)."""
    return max(gemm_rates(threads, n, repeats))


def machine_key(threads: int) -> str:
    """What the peak depends on: the CPU, its core count, the BLAS and the kernels it picked, the thread count."""
    blas = [f"{p['internal_api']} {p.get('version')} {p.get('architecture')}" for p in threadpool_info()]
    blas = [b for b in blas if not b.startswith("openmp")]  # numba's and torch's OpenMP runtimes do no GEMM
    return f"{cpu_model()}, {os.cpu_count()} cores, numpy {np.__version__}, {'; '.join(blas)}, threads={threads}"


def cache_path() -> Path:
    return Path(platformdirs.user_cache_dir("lmladder", appauthor=False)) / CACHE_NAME


def kept_peak(threads: int) -> float | None:
    """The peak kept for this machine at `threads` (FLOP/s), or None."""
    v = _read(cache_path()).get(machine_key(threads))
    return float(v) if _positive(v) else None


def keep_peak(threads: int, peak: float) -> bool:
    """Keep `peak` as this machine's at `threads` (other keys kept as they are); False where the cache folder cannot
    be written (the peak is then measured again next time)."""
    path = cache_path()
    try:
        atomic_write_json(path, {**_read(path), machine_key(threads): peak})
    except (WriteError, OSError):
        return False
    return True


def machine_peak(threads: int) -> float:
    """This machine's float32 GEMM peak (FLOP/s) at `threads`: the kept one, else measured now and kept. A cache that
    cannot be read or written is measured around, never an error."""
    if (peak := kept_peak(threads)) is not None:
        return peak
    peak = gemm_peak(threads)
    keep_peak(threads, peak)
    return peak


def run_threads(ranks: int = 1) -> int:
    """The threads a run computed on, all its MPI ranks together: the compiled kernels' width (fast/share.py), or
    with the numpy backend NumPy's BLAS threads."""
    if fast.on():
        try:
            return share.width() * ranks
        except ImportError:  # no numba: the textbook code ran on NumPy's BLAS
            pass
    blas = [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]
    return (blas[0] if blas else 1) * ranks


def run_speed(run: Run, tokens_per_s: float) -> str:
    """What a trained run's last line says of its speed: "9,138 tokens/s, MFU 0.31 of 212 GFLOP/s on 2 threads" (the
    peak measured here when none is kept); "" for a fitted (count) model or a run with no timed steps."""
    if not run.cls.trainable or not _positive(tokens_per_s):
        return ""
    said = f"{tokens_per_s:,.0f} tokens/s"
    counts = getattr(run.config, "counts", None)
    if counts is None:
        return said
    threads = run_threads(run.world.size)
    peak = machine_peak(threads)
    mfu = utilisation(counts().flops_per_token, tokens_per_s, peak)
    return f"{said}, MFU {mfu:.2f} of {peak / 1e9:,.0f} GFLOP/s on {threads} thread{'s' if threads > 1 else ''}"


def utilisation(flops_per_token: float, tokens_per_s: float, peak: float) -> float:
    """MFU: the model's FLOPs per second over the peak."""
    return flops_per_token * tokens_per_s / peak


def _read(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _positive(v) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) and v > 0
