"""Data-parallel training on one machine: 2 MPI ranks x 1 BLAS thread against one process with 2 threads and
against PyTorch at 2 threads, the same global batch; and the all-reduce's cost against model size.

    python benchmarks/bench_mpi.py [--workloads gpt_nanogpt_cpu gpt_10m] [--rounds 3] [--steps 40]

The driver alternates two kinds of child process, `--rounds` times each, so both see the same drift of the VM:
  ranks:  mpiexec -n 2 bench_mpi.py --worker   each rank trains half of every global batch (B/2 rows, one BLAS
          thread), then lmladder.parallel.sum_grads + clip + AdamW: the step of training/loop.py under mpiexec;
  single: bench_mpi.py --single                lmladder with B rows on 2 BLAS threads, torch eager and torch
          sdpa + fused AdamW at 2 threads, interleaved in one process (bench_train's contenders).
A round's ratio is single-round median over ranks-round median of step time (> 1: the ranks are faster). The
worker also times `MpiWorld.sum_in_place` (sum_grads's call) on float32 vectors of 10^4..10^7 elements; with
t = a + b n (a: latency, b: time per float at the model's message size, `fit`) that predicts the all-reduce at N
ranks as t(N) = (N-1) a + 2 (N-1)/N b n (the same message pattern; this machine's shared memory: put a network's
bandwidth in b across nodes). Prints JSON lines.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _common import batches, corpus_ids, interleaved, machine_info, set_threads, torch_or_none  # noqa: E402

SIZES = (10_000, 100_000, 1_000_000, 10_000_000)


def workload(name: str) -> dict:
    from bench_train import WORKLOADS

    return WORKLOADS[name]


def global_batches(w: dict):
    return batches(corpus_ids("shakespeare", 200_000, w["vocab"]), w["B"], w["T"], count=8)


def worker(name: str, steps: int) -> None:
    """One rank: its rows of every global batch, then the gradient sum; rank 0 prints the medians."""
    import numpy as np

    from bench_train import CLIP, build_ours
    from lmladder import nn
    from lmladder.parallel import connect, sum_grads

    world = connect()
    w = workload(name)
    half = w["B"] // world.size
    rows = slice(world.rank * half, (world.rank + 1) * half)
    data = [(x[rows], y[rows]) for x, y in global_batches(w)]
    model, _ = build_ours({**w, "B": half}, data)
    opt = nn.AdamW(nn.decay_groups(model.named_parameters(), 0.1), lr=1e-3, betas=(0.9, 0.99))
    params = model.parameters()
    scale = np.asarray(1 / world.size, dtype=np.float32)
    step_t, sum_t = [], []
    for i in range(w["warmup"] + steps):
        x, y = data[i % len(data)]
        t0 = time.perf_counter()
        _, loss = model(x, y)
        loss.backward(scale)
        t1 = time.perf_counter()
        sum_grads(params, world)
        t2 = time.perf_counter()
        nn.clip_grad_norm(params, CLIP)
        opt.step()
        opt.zero_grad()
        if i >= w["warmup"]:
            step_t.append(time.perf_counter() - t0)
            sum_t.append(t2 - t1)
    sizes = {}
    for n in SIZES:
        v = np.ones(n, np.float32)
        world.sum_in_place(v)  # what sum_grads does, into one buffer kept for the run
        ts = []
        for _ in range(7 if n < 10**7 else 3):
            t0 = time.perf_counter()
            world.sum_in_place(v)
            ts.append(time.perf_counter() - t0)
        sizes[n] = statistics.median(ts)
    if world.lead:
        n_params = sum(p.data.size for p in params)
        row = {"workload": name, "ranks": world.size, "step_ms": statistics.median(step_t) * 1e3}
        row |= {"allreduce_ms": statistics.median(sum_t) * 1e3, "params": n_params, "sum_s_by_size": sizes}
        print(json.dumps(row), flush=True)


def single(name: str, steps: int) -> None:
    """One process, 2 threads: lmladder and torch's two references interleaved (bench_train's contenders)."""
    from bench_train import build_ours, build_torch

    w = workload(name)
    data = global_batches(w)
    model, ours = build_ours(w, data)
    fns = {"ours_2threads": ours}
    torch = torch_or_none(2)
    if torch is not None:
        fns["torch_eager"] = build_torch(torch, w, data, False, model)
        fns["torch_sdpa_fused"] = build_torch(torch, w, data, True, model)
    med, _ = interleaved(fns, w["warmup"], steps, block=max(1, min(w["block"], steps)))
    print(json.dumps({"workload": name, **{f"{k}_ms": s * 1e3 for k, s in med.items()}}), flush=True)


def child(args: list[str], env: dict) -> dict:
    r = subprocess.run(args, capture_output=True, text=True, env=env, check=True)
    return json.loads(r.stdout.strip().splitlines()[-1])


def fit(sizes: dict, n: int) -> tuple[float, float]:
    """(a, b) of t = a + b n for a message of n floats: a, the latency, is the smallest message's time; b, the time
    per element, comes from the measured size nearest n (in ratio). One line through all sizes fits neither end:
    messages that fit in the caches moved at 4.7 GB/s here, 10^7 floats at 1.8 GB/s."""
    import math

    a = sizes[min(sizes)]
    k = min(sizes, key=lambda m: abs(math.log(m / n)))
    return a, (sizes[k] - a) / k


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workloads", nargs="*", default=["gpt_nanogpt_cpu", "gpt_10m"])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=40, help="timed steps per child (the 10.7M GPT takes 1/10)")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--single", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker or args.single:
        set_threads(None if args.worker else 2)  # a worker's BLAS threads come from its environment (1)
        import numpy

        import bench_train

        bench_train.np = numpy  # bench_train imports NumPy in its main(), after pinning threads
        (worker if args.worker else single)(args.worker or args.single, args.steps)
        return
    mpiexec = Path(sys.executable).parent / "mpiexec"
    print(json.dumps({"benchmark": "machine", **machine_info(2, torch_or_none(2))}), flush=True)
    one = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    me = [sys.executable, str(Path(__file__).resolve())]
    for name in args.workloads:
        steps = args.steps if name != "gpt_10m" else max(3, args.steps // 10)
        ranks, singles = [], []
        for _ in range(args.rounds):
            time.sleep(1)
            ranks.append(child([str(mpiexec), "-n", "2", *me, "--worker", name, "--steps", str(steps)], one))
            time.sleep(1)
            singles.append(child([*me, "--single", name, "--steps", str(steps)], dict(os.environ)))
        step = [r["step_ms"] for r in ranks]
        row = {"benchmark": "mpi", "workload": name, "params": ranks[0]["params"], "rounds": args.rounds}
        row["ranks2_ms"] = [round(s, 2) for s in step]
        row["allreduce_ms"] = [round(r["allreduce_ms"], 3) for r in ranks]
        for k in singles[0]:
            if k.endswith("_ms"):
                row[k] = [round(s[k], 2) for s in singles]
                row[f"ratio_vs_{k[:-3]}"] = [round(s[k] / r, 3) for s, r in zip(singles, step, strict=True)]
        n = ranks[0]["params"]
        a, b = fit({int(k): v for k, v in ranks[-1]["sum_s_by_size"].items()}, n)
        row["sum_ms_by_size"] = {k: round(v * 1e3, 3) for k, v in ranks[-1]["sum_s_by_size"].items()}
        row["allreduce_fit"] = {"latency_us": round(a * 1e6, 1), "gb_per_s": round(4 / b / 1e9, 2)}
        row["allreduce_predicted_ms"] = {N: round(((N - 1) * a + 2 * (N - 1) / N * b * n) * 1e3, 3) for N in (2, 8, 64)}
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
