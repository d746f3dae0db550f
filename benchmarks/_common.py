"""Shared helpers for the benchmark scripts: thread pinning, machine facts, interleaved timing, corpora.

`set_threads` must run before NumPy (or torch) is imported anywhere: BLAS reads its thread count once, at load.
"""

from __future__ import annotations

import os
import platform
import statistics
import sys
import time
from pathlib import Path

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def set_threads(n: int | None) -> None:
    """Pin BLAS/OpenMP threads (call before importing numpy/torch)."""
    if n:
        for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[var] = str(n)


def torch_or_none(threads: int | None, enabled: bool = True):
    """torch if it is importable (an optional reference, never a dependency), with its threads matched to ours."""
    if not enabled:
        return None
    try:
        import torch
    except ImportError:
        return None
    if threads:
        torch.set_num_threads(threads)
    return torch


def machine_info(threads: int | None, torch=None) -> dict:
    """What the numbers depend on: cores, BLAS library and its threads, library versions."""
    import numpy as np

    info = {
        "cpu_count": os.cpu_count(),
        "threads": threads or "default",
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "machine": platform.machine(),
    }
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        info["blas"] = f"{blas.get('name')} {blas.get('version')}"
    except Exception:  # older NumPy: no dict mode
        info["blas"] = "unknown"
    try:
        from threadpoolctl import threadpool_info

        info["blas_pools"] = [
            f"{p['internal_api']} {p.get('version')} {p['num_threads']} threads ({p.get('architecture')})"
            for p in threadpool_info()
        ]
    except ImportError:
        pass
    if torch is not None:
        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
    return info


def once(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def interleaved(fns: dict, warmup: int, repeats: int, block: int = 1, gap: float = 0.25) -> dict[str, float]:
    """Median seconds per call of each fn, contenders taking turns in blocks of `block` calls.

    Before each turn the process sleeps `gap` seconds: OpenBLAS worker threads busy-wait ~0.1 s after a call and
    OpenMP's (torch) a little, so without the pause one library's spinning pool steals the other's second core.
    """
    for fn in fns.values():
        time.sleep(gap)
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(max(1, -(-repeats // block))):
        for k, fn in fns.items():
            time.sleep(gap)
            times[k].extend(once(fn) for _ in range(block))
    return {k: statistics.median(v) for k, v in times.items()}


def matmul_peak(n: int = 2048, repeats: int = 7) -> float:
    """The machine's float32 GEMM rate in FLOP/s: median of `repeats` (n, n) @ (n, n) products, 2 n^3 FLOPs each."""
    import numpy as np

    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    out = np.empty_like(a)
    np.matmul(a, b, out=out)  # warm-up: thread pool start, page faults
    return 2 * n**3 / statistics.median(once(lambda: np.matmul(a, b, out=out)) for _ in range(repeats))


def corpus_ids(name: str, n: int, vocab: int, seed: int = 0):
    """The first n token ids of a shared corpus as int64 (characters mapped to a sorted vocab); random ids if the
    corpus is not on this machine, which changes no timing."""
    import numpy as np

    path = SHARED / ("tinyshakespeare.txt" if name == "shakespeare" else "names.txt")
    if path.exists():
        text = path.read_text()
        if name == "names":  # makemore: '.' (id 0) separates names
            text = "." + ".".join(text.split()) + "."
        chars = sorted(set(text))
        if len(chars) <= vocab:
            lut = {c: i for i, c in enumerate(chars)}
            return np.array([lut[c] for c in text[:n]], dtype=np.int64)
    return np.random.default_rng(seed).integers(0, vocab, n, dtype=np.int64)


def batches(ids, batch: int, seq: int, count: int, seed: int = 0):
    """`count` (x, y) pairs of (batch, seq) windows at random offsets; y is x shifted by one."""
    import numpy as np

    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        ix = rng.integers(0, len(ids) - seq - 1, batch)
        x = np.stack([ids[i : i + seq] for i in ix])  # (batch, seq)
        y = np.stack([ids[i + 1 : i + 1 + seq] for i in ix])  # (batch, seq)
        out.append((x, y))
    return out
