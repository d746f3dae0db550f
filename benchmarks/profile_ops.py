"""Where a training step's time goes: every registered primitive's forward/backward wrapped with a timer.

    python benchmarks/profile_ops.py gpt_nanogpt_cpu --threads 2 --steps 30 [--torch]   # workloads of bench_train.py

Prints forward / backward / optimizer time per step, the time spent inside the primitives (the rest of
forward + backward is graph overhead) and the primitives by time. The timers cost ~1 us per op call.

--torch adds the same step in PyTorch (sdpa attention + fused AdamW, bench_train's "torch best") under
torch.profiler: its step time without and with the profiler, and its aten ops by self time per step (the
profiler costs a few us per op, so its rows add up to more than the plain step).
"""

from __future__ import annotations

import argparse
import collections
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import batches, corpus_ids, set_threads  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("workload")
    ap.add_argument("--threads", type=int, choices=(1, 2), default=None)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--torch", action="store_true", help="profile PyTorch's step too (torch must be importable)")
    args = ap.parse_args()
    set_threads(args.threads)
    # torch loads before lmladder's kernels: loaded after MKL (LMLADDER_GEMM=mkl), its GEMMs ran on one thread
    torch = _torch(args.threads) if args.torch else None
    import numpy as np

    import bench_train as bt
    from lmladder import nn
    from lmladder.autograd import Function

    bt.np = np
    acc: dict = collections.defaultdict(float)
    calls: collections.Counter = collections.Counter()

    def timed(cls, meth):
        f = getattr(cls, meth)

        def wrapper(self, *a, **k):
            t = time.perf_counter()
            r = f(self, *a, **k)
            acc[cls.__name__, meth] += time.perf_counter() - t
            calls[cls.__name__, meth] += 1
            return r

        setattr(cls, meth, wrapper)

    for cls in list(Function.registry.values()):
        for meth in ("forward", "backward"):
            if meth in cls.__dict__:
                timed(cls, meth)
    w = bt.WORKLOADS[args.workload]
    data = batches(corpus_ids("shakespeare" if w["kind"] == "gpt" else "names", 200_000, w["vocab"]), w["B"], w["T"], 8)
    model, _ = bt.build_ours(w, data)
    opt = bt.build_optimizer(nn, model, w.get("optim", bt.ADAMW))  # the workload's optimizer, as bench_train's
    params, one, n = model.parameters(), np.asarray(1.0, dtype=np.float32), args.steps
    parts: dict = collections.defaultdict(float)
    for i in range(n + 2):  # two warm-up steps
        if i == 2:
            acc.clear(), calls.clear(), parts.clear()
        x, y = data[i % len(data)]
        t0 = time.perf_counter()
        _, loss = model(x, y)
        t1 = time.perf_counter()
        loss.backward(one)
        t2 = time.perf_counter()
        nn.clip_grad_norm(params, bt.CLIP)
        opt.step()
        opt.zero_grad()
        t3 = time.perf_counter()
        parts["forward"] += t1 - t0
        parts["backward"] += t2 - t1
        parts["clip+optimizer"] += t3 - t2
    step = sum(parts.values()) / n * 1e3
    print(" ".join(f"{k} {v / n * 1e3:.2f} ms" for k, v in parts.items()), f"step {step:.2f} ms")
    inside = sum(acc.values())
    overhead = parts["forward"] + parts["backward"] - inside
    print(f"inside primitives {inside / n * 1e3:.2f} ms, graph overhead {overhead / n * 1e3:.2f} ms")
    for (op, meth), v in sorted(acc.items(), key=lambda kv: -kv[1]):
        print(f"  {op:14s} {meth:8s} {v / n * 1e3:9.3f} ms/step  {calls[op, meth] // n:3d} calls")
    if torch is not None:
        profile_torch(torch, bt, w, data, model, n)


def _torch(threads: int | None):
    from _common import torch_or_none

    torch = torch_or_none(threads)
    if torch is None:
        sys.exit("profile_ops: --torch needs torch importable (pip install torch into the venv)")
    return torch


def profile_torch(torch, bt, w: dict, data, model, n: int) -> None:
    from torch.profiler import ProfilerActivity, profile

    step = bt.build_torch(torch, w, data, True, model)
    time.sleep(0.5)  # numba's workers spin for a while after our last step and would take torch's second core
    for _ in range(5):
        step()
    t = time.perf_counter()
    for _ in range(n):
        step()
    plain = (time.perf_counter() - t) / n * 1e3
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        t = time.perf_counter()
        for _ in range(n):
            step()
        profiled = (time.perf_counter() - t) / n * 1e3
    print(f"torch (sdpa + fused AdamW): step {plain:.2f} ms, {profiled:.2f} ms under the profiler")
    rows = sorted(prof.key_averages(), key=lambda e: -e.self_cpu_time_total)
    for e in rows[:16]:
        print(f"  {e.key[:40]:40s} {e.self_cpu_time_total / n / 1e3:9.3f} ms/step  {e.count // n:3d} calls")


if __name__ == "__main__":
    main()
