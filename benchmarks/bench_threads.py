"""Can Python threads put NumPy's single-threaded work on the second core? Two measured experiments, nanogpt_cpu sizes.

    python benchmarks/bench_threads.py [--rounds 7]        # needs threadpoolctl (dev extra) and 2 cores

At two BLAS threads a nanogpt_cpu step spends ~16 of ~37 ms in work that runs on one core: attention's per-head
GEMMs (too small for OpenBLAS to thread) and NumPy's element-wise passes. These experiments measure the two
ways of reaching the idle core that need no compiled code, each against the shipped way in the same rounds:

- `attention_split`: one batched (12, 4, 64, 64) @ (12, 4, 64, 32) matmul (a P @ V of attention) as one call,
  or as two halves with the first on a persistent worker thread (NumPy releases the GIL inside matmul). Timed
  right after a large two-thread GEMM, the state inside a training step (OpenBLAS's workers still spinning),
  and after 0.3 s idle.
- `backward_overlap`: the 16 Linear backward GEMM pairs of a nanogpt_cpu backward with element-wise passes in
  between (np.tanh over a (12, 64, 128) activation, as many passes as GELU / layer norm / attention take), either
  all on the main thread with BLAS at two threads (what lmladder does), or with BLAS at one thread and every
  weight-gradient GEMM handed to a worker thread, overlapping the main thread's chain.

Prints one JSON line per experiment: median ms per variant over rounds and the per-round ratio spread.
"""

from __future__ import annotations

import argparse
import json
import queue
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import interleaved, machine_info, ratio_spread, set_threads  # noqa: E402


class Worker:
    """One persistent daemon thread that runs submitted callables; `wait()` blocks until all have finished."""

    def __init__(self):
        self.todo, self.done, self.pending = queue.SimpleQueue(), queue.SimpleQueue(), 0
        threading.Thread(target=self._loop, daemon=True).start()

    def _loop(self):
        while True:
            self.todo.get()()
            self.done.put(None)

    def submit(self, fn):
        self.pending += 1
        self.todo.put(fn)

    def wait(self):
        for _ in range(self.pending):
            self.done.get()
        self.pending = 0


def _compare(variants: dict, rounds: int, reps: int, before=None) -> dict:
    """Medians (ms) of variants taking turns in each round and, per variant after the first, the spread of its
    per-round ratio to the first (> 1: slower than the first)."""
    med, per = interleaved(variants, warmup=2, repeats=rounds * reps, block=reps, gap=0, before=before)
    out = {k: round(v * 1e3, 4) for k, v in med.items()}
    ref = next(iter(variants))
    for k in list(variants)[1:]:
        out[f"ratio_{k}_vs_{ref}"] = ratio_spread(per, k, ref)
    return out


def attention_split(np, worker, rounds):
    rng = np.random.default_rng(0)
    p = rng.standard_normal((12, 4, 64, 64), dtype=np.float32)  # (B, H, T, S) probabilities
    v = rng.standard_normal((12, 4, 64, 32), dtype=np.float32)  # (B, H, S, d)
    out = np.empty((12, 4, 64, 32), np.float32)
    a, b = rng.standard_normal((768, 512), dtype=np.float32), rng.standard_normal((512, 384), dtype=np.float32)

    def one():
        np.matmul(p, v, out=out)

    def split():
        worker.submit(lambda: np.matmul(p[:6], v[:6], out=out[:6]))
        np.matmul(p[6:], v[6:], out=out[6:])
        worker.wait()

    split()
    assert np.array_equal(out, np.matmul(p, v)), "split matmul differs from one call"
    hot = _compare({"one_call": one, "split_2_threads": split}, rounds, 200, before=lambda: np.matmul(a, b))
    idle = _compare({"one_call": one, "split_2_threads": split}, rounds, 10, before=lambda: time.sleep(0.3))
    return {"after_gemm": hot, "after_idle": idle}


def backward_overlap(np, worker, rounds):
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(0)
    N = 12 * 64  # tokens
    shapes = [(512, 128), (128, 512), (128, 128), (128, 384)] * 4  # (out, in) of mlp.c_proj, c_fc, attn.c_proj, c_attn
    passes = [4, 1, 10, 1] * 4  # element-wise passes after each: GELU bwd, layer norm, attention, layer norm
    w = [rng.standard_normal(s, dtype=np.float32) for s in shapes]
    x = [rng.standard_normal((N, s[1]), dtype=np.float32) for s in shapes]
    g = [rng.standard_normal((N, s[0]), dtype=np.float32) for s in shapes]
    gx = [np.empty((N, s[1]), np.float32) for s in shapes]
    gw = [np.empty(s, np.float32) for s in shapes]
    act, scratch = rng.standard_normal(N * 128, dtype=np.float32), np.empty(N * 128, np.float32)

    def elementwise(k):
        for _ in range(k):
            np.tanh(act, out=scratch)

    def serial():
        for i in range(len(shapes)):
            np.matmul(g[i], w[i], out=gx[i])  # (N, out) @ (out, in)
            np.matmul(g[i].T, x[i], out=gw[i])  # (out, N) @ (N, in)
            elementwise(passes[i])

    def overlapped():
        for i in range(len(shapes)):
            np.matmul(g[i], w[i], out=gx[i])
            worker.submit(lambda i=i: np.matmul(g[i].T, x[i], out=gw[i]))
            elementwise(passes[i])
        worker.wait()

    def one_thread(fn):
        def run():
            with threadpool_limits(1, user_api="blas"):
                fn()

        return run

    return _compare(
        {"blas2_serial": serial, "blas1_overlapped": one_thread(overlapped), "blas1_serial": one_thread(serial)},
        rounds,
        20,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args()
    set_threads(2)
    import numpy as np

    try:
        import threadpoolctl  # noqa: F401
    except ImportError:
        sys.exit("bench_threads.py: needs threadpoolctl to switch BLAS threads; pip install -e '.[dev]'")
    print(json.dumps({"benchmark": "machine", **machine_info(2)}), flush=True)
    worker = Worker()
    for name, fn in (("attention_split", attention_split), ("backward_overlap", backward_overlap)):
        print(json.dumps({"benchmark": name, "unit": "ms", **fn(np, worker, args.rounds)}), flush=True)


if __name__ == "__main__":
    main()
