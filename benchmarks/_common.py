"""Shared helpers for the benchmark scripts: thread pinning, machine facts, interleaved timing, corpora.

`set_threads` must run before NumPy (or torch) is imported anywhere: BLAS reads its thread count once, at load.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
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
        start_numba_pool()
        torch.set_num_threads(threads)
    return torch


def start_numba_pool() -> None:
    """Start numba's thread pool now. Its OpenMP layer sets the process's OpenMP thread count to the core count when
    the pool starts (at lmladder's first compiled kernel otherwise), and torch's OpenMP reads that count: without
    this, torch pinned to 1 thread ran on 2 after lmladder's first step."""
    try:
        import numba
    except ImportError:
        return
    numba.get_num_threads()  # launches the pool


def machine_info(threads: int | None, torch=None) -> dict:
    """What the numbers depend on: cores, BLAS library and its threads, library versions."""
    import numpy as np

    info = {
        "cpu_count": os.cpu_count(),
        "cpu": cpu_model(),
        "isa": isa_level(),
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
    # OpenBLAS picks its kernels for the CPU at load unless this forces a core (e.g. Haswell's AVX2 kernels on an
    # AVX-512 machine run GEMMs at about half speed); blas_pools below shows the core actually in use
    info["openblas_coretype_env"] = os.environ.get("OPENBLAS_CORETYPE", "unset")
    try:
        from threadpoolctl import threadpool_info

        info["blas_pools"] = [
            f"{p['internal_api']} {p.get('version')} {p['num_threads']} threads ({p.get('architecture')})"
            for p in threadpool_info()
        ]
    except ImportError:
        pass
    # the library behind lmladder's GEMMs: NumPy's OpenBLAS, or MKL with LMLADDER_GEMM=mkl (its bits differ)
    info["gemm"] = os.environ.get("LMLADDER_GEMM") or "openblas"
    if torch is not None:
        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
    return info


def cpu_model() -> str:
    """The CPU's model name with its family/model numbers where the name alone is vague (a VM's "AMD EPYC": family
    25 model 17 is Zen 4 Genoa): lmladder's own, which keys the GEMM peak a run's MFU divides by."""
    from lmladder.resources import cpu_model as model

    return model()


def isa_level() -> str:
    """The widest x86 vector ISA the CPU offers (avx512f, avx2, ...) from /proc/cpuinfo's flags: what decides which
    kernels OpenBLAS, MKL and numba pick, so figures from different levels are not comparable."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")), [])
    except OSError:
        flags = []
    return next((isa for isa in ("avx512f", "avx2", "avx", "sse4_2") if isa in flags), platform.machine() or "unknown")


# class name (lowercase) -> its module in lmladder/models: the rung's name, or the class's in older revisions
MODULES = {"gpt": ("transformer", "gpt"), "mlp": ("mlp",), "rnn": ("rnn",)}


def build_model(package: str, kind: str, rng, **dims):
    """`package`'s GPT, MLP or RNN (kind "gpt" / "mlp" / "rnn") with these dims (keyword names of its config).

    Newer lmladder takes the model's config dataclass (GPTConfig beside GPT in models/transformer.py, MLPConfig
    beside MLP); older revisions take the same names as keyword arguments. bench_ab.py compares one of each, so
    both work."""
    names = [f"{package}.models.{m}" for m in MODULES[kind]]
    module = next(importlib.import_module(n) for n in names if importlib.util.find_spec(n) is not None)
    model_cls = getattr(module, kind.upper())
    config_cls = getattr(module, f"{kind.upper()}Config", None)
    if config_cls is None:
        return model_cls(**dims, rng=rng)
    if "lookback" in dims and "lookback" not in {f.name for f in dataclasses.fields(config_cls)}:
        group = dims.pop("lookback")
        dims |= flat_lookback(group)  # a revision from before the look-backs' group
    elif isinstance(conv := dims.get("lookback", {}).get("conv"), dict) and not _conv_is_a_group(module):
        dims["lookback"] = {**dims["lookback"], "conv": conv.get("kernel", 0)}  # before the convolution's group
    return model_cls(config_cls(**dims), rng=rng)


def _conv_is_a_group(module) -> bool:
    """Whether this revision's look-backs hold the convolution as a group (kernel, at), not as its kernel."""
    name = module.__name__ + "_config"
    return importlib.util.find_spec(name) is not None and hasattr(importlib.import_module(name), "ConvConfig")


def flat_lookback(group: dict) -> dict:
    """The look-backs' group (issue 71: lookback.smear/ngram/conv) in the flat GPTConfig fields of older revisions."""
    smear, ngram = group.get("smear", {}), group.get("ngram", {})
    conv = group.get("conv", 0)
    flat = {
        "conv_kernel": conv.get("kernel", 0) if isinstance(conv, dict) else conv,
        "smear": smear.get("enabled", False),
    }
    flat |= {"smear_width": smear["width"]} if "width" in smear else {}
    flat |= {"ngram_embed": ngram["order"]} if ngram.get("order", 0) > 2 else {"bigram_embed": ngram.get("order") == 2}
    flat |= {"ngram_buckets": ngram["buckets"]} if "buckets" in ngram else {}
    return flat


def median_time(fn, repeats: int) -> tuple[float, object]:
    """(median wall time of `repeats` calls of fn, the last call's result)."""
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def once(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def interleaved(fns: dict, warmup: int, repeats: int, block: int = 1, gap: float = 0.25, before=None):
    """(median seconds per call of each fn, [per-round medians]): contenders take turns in rounds of `block` calls.

    Before each turn the process sleeps `gap` seconds: OpenBLAS worker threads busy-wait ~0.1 s after a call and
    OpenMP's (torch) a little, so without the pause one library's spinning pool steals the other's second core.
    The per-round medians give ratio spreads: a shared VM's speed drifts by tens of percent over minutes, and
    contenders measured in the same round see the same drift. `before`, if given, runs untimed before every call
    (to set up the state a call is measured in, e.g. BLAS threads just busy).
    """
    for fn in fns.values():
        time.sleep(gap)
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {k: [] for k in fns}
    rounds: list[dict[str, float]] = []
    for _ in range(max(1, -(-repeats // block))):
        rounds.append({})
        for k, fn in fns.items():
            time.sleep(gap)
            ts = []
            for _ in range(block):
                if before is not None:
                    before()
                ts.append(once(fn))
            times[k].extend(ts)
            rounds[-1][k] = statistics.median(ts)
    return {k: statistics.median(v) for k, v in times.items()}, rounds


def ratio_spread(rounds: list[dict[str, float]], num: str, den: str) -> list[float]:
    """[min, median, max] over rounds of time(num) / time(den)."""
    r = sorted(x[num] / x[den] for x in rounds)
    return [round(r[0], 3), round(statistics.median(r), 3), round(r[-1], 3)]


def matmul_peak(n: int = 2048, repeats: int = 7) -> float:
    """The machine's float32 GEMM rate in FLOP/s at the BLAS threads set: the best of `repeats` (n, n) @ (n, n)
    products, 2 n^3 FLOPs each (lmladder.training.mfu, what a training run's MFU divides by)."""
    from lmladder.training.mfu import gemm_peak

    return gemm_peak(None, n, repeats)


def add_peak_option(ap) -> None:
    ap.add_argument("--peak-json", help="bench_peak.py's output at the same --threads: its peak, not one measured here")


def peak_flops(path: str | None, threads: int | None) -> float:
    """The float32 GEMM peak the MFU figures divide by (FLOP/s): bench_peak.py's line for `threads` from the file at
    `path` (measured on this CPU), else measured now."""
    if path is None:
        return matmul_peak()
    import json

    try:
        rows = [json.loads(line) for line in Path(path).read_text().splitlines() if line.startswith("{")]
    except (OSError, ValueError) as e:
        sys.exit(f"--peak-json {path}: cannot read it ({e}); give a file bench_peak.py wrote")
    cpus = {r.get("cpu") for r in rows if r.get("benchmark") == "machine"}
    if cpus and cpu_model() not in cpus:
        sys.exit(f"--peak-json {path}: measured on {', '.join(map(str, cpus))}, not this {cpu_model()}; measure here")
    want = threads or "default"
    for r in rows:
        if r.get("benchmark") == "peak" and r.get("threads") == want:
            return float(r["peak_gflops"]) * 1e9
    sys.exit(f"--peak-json {path}: no peak at threads={want}; run bench_peak.py --threads {threads or '...'} first")


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
