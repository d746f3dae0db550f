"""Engine micro-benchmark: forward+backward of a 2-layer MLP and of a batched matmul chain.

Each workload runs through lmladder.autograd and as hand-written NumPy (the same math, no graph), interleaved,
so the ratio shows the engine's overhead. Prints one JSON line.

    python benchmarks/bench_engine.py [--repeats 200] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time


def _set_threads(n: int | None) -> None:
    if n:
        for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[var] = str(n)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=200)
    ap.add_argument("--threads", type=int, default=None, help="BLAS threads (default: library default)")
    args = ap.parse_args()
    _set_threads(args.threads)  # must happen before NumPy loads BLAS

    import numpy as np

    from lmladder import nn
    from lmladder.autograd import Tensor
    from lmladder.autograd import functional as F

    rng = np.random.default_rng(0)
    B, D, H, C = 256, 64, 256, 10
    x = rng.standard_normal((B, D)).astype(np.float32)
    y = rng.integers(0, C, B)
    mlp = nn.Sequential(nn.Linear(D, H, rng=rng), nn.Tanh(), nn.Linear(H, C, rng=rng))
    w1, b1, w2, b2 = (p.data for p in mlp.parameters())

    def mlp_ours():
        loss = F.cross_entropy(mlp(Tensor(x)), y)
        mlp.zero_grad()
        loss.backward()

    def mlp_numpy():
        h = np.tanh(x @ w1.T + b1)
        logits = h @ w2.T + b2
        p = np.exp(logits - logits.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        p[np.arange(B), y] -= 1
        p /= B
        gw2, gb2 = p.T @ h, p.sum(0)
        gh = (p @ w2) * (1 - h * h)
        gw1, gb1 = gh.T @ x, gh.sum(0)
        return gw1, gb1, gw2, gb2

    mats = [Tensor(rng.standard_normal((8, 64, 64)).astype(np.float32) / 8, requires_grad=True) for _ in range(6)]
    raw = [m.data for m in mats]

    def chain_ours():
        out = mats[0]
        for m in mats[1:]:
            out = out @ m
        for m in mats:
            m.grad = None
        out.sum().backward()

    def chain_numpy():
        acts = [raw[0]]
        for m in raw[1:]:
            acts.append(acts[-1] @ m)
        g = np.ones_like(acts[-1])
        grads = []
        for i in range(len(raw) - 1, 0, -1):
            grads.append(np.swapaxes(acts[i - 1], -1, -2) @ g)
            g = g @ np.swapaxes(raw[i], -1, -2)
        return grads

    results = {}
    for name, ours, ref in (("mlp_fwd_bwd", mlp_ours, mlp_numpy), ("matmul_chain_fwd_bwd", chain_ours, chain_numpy)):
        for _ in range(10):  # warm-up
            ours(), ref()
        t_ours, t_ref = [], []
        for _ in range(args.repeats):  # interleaved so drift hits both equally
            t_ours.append(_once(ours))
            t_ref.append(_once(ref))
        mo, mr = statistics.median(t_ours), statistics.median(t_ref)
        results[name] = {
            "ours_ms": round(mo * 1e3, 4),
            "numpy_ms": round(mr * 1e3, 4),
            "overhead_ratio": round(mo / mr, 3),
        }
    print(
        json.dumps(
            {
                "benchmark": "engine",
                "mlp": f"{B}x{D} -> {H} tanh -> {C}, float32",
                "chain": "6 x (8, 64, 64) batched matmuls, float32",
                "repeats": args.repeats,
                "threads": args.threads or "default",
                "cpu_count": os.cpu_count(),
                "python": sys.version.split()[0],
                "numpy": np.__version__,
                "machine": platform.machine(),
                **results,
            }
        )
    )


def _once(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


if __name__ == "__main__":
    main()
