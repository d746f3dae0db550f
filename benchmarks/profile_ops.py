"""Where a training step's time goes: every registered primitive's forward/backward wrapped with a timer, and the
step grouped by kind of work.

    python benchmarks/profile_ops.py gpt_shakespeare_conv --threads 2 --steps 30 [--torch]   # bench_train's workloads
    python benchmarks/profile_ops.py gpt_shakespeare_conv --threads 2 --score [--tokens 30000] # exact scoring instead

Prints forward / backward / optimizer time per step, the time spent inside the primitives (the rest of
forward + backward is graph overhead), the step by kind of work (KINDS below: GEMMs, attention, element-wise, norm
and convolution, the optimizer with Newton-Schulz apart, and the remainder: the engine's graph walk and gradient
sums, module calls, Python) and the primitives by time. The timers cost ~1 us per op call. `gpt_shakespeare_conv` is
experiment=shakespeare_30min's step (its Muon decay aside).

--score times `inference.scoring.score_tokens` (the exact scoring of `evaluate` and of every run's end) on the first
--tokens of Tiny Shakespeare's val split with the workload's model, untrained (speed does not depend on the
weights), in rows of --batch-size (default: as many as `score_rows` picks): the same table per 1,000 scored tokens,
and scored tokens/s.

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

# primitive -> its kind of work; any other primitive is element-wise (activations, sums, embedding lookups, the loss)
KINDS = {
    "Linear": "GEMMs",
    "MatMul": "GEMMs",
    "AttentionQKV": "attention",
    "Attention": "attention",
    "ModernQKV": "attention",  # attention's queries and keys: QK-norm, rotary positions, value embeddings
    "LayerNorm": "norm and convolution",
    "RMSNorm": "norm and convolution",
    "BatchNorm": "norm and convolution",
    "CausalConv": "norm and convolution",
}
NS, OPT, REST = "optimizer: Newton-Schulz", "optimizer: clip, moments, updates", "engine, modules, Python (remainder)"
ORDER = ["GEMMs", "attention", "element-wise", "norm and convolution", NS, OPT, REST]


class Timers:
    """Wall time inside every primitive's forward/backward, and inside Newton-Schulz (whose calls run side by side
    on the pool's threads: the union of their intervals is the wall time they cover)."""

    def __init__(self):
        self.acc: dict = collections.defaultdict(float)
        self.calls: collections.Counter = collections.Counter()
        self.ns: list[tuple[float, float]] = []

    def wrap_primitives(self, registry) -> None:
        for cls in list(registry.values()):
            for meth in ("forward", "backward"):
                if meth in cls.__dict__:
                    self._wrap(cls, meth)

    def _wrap(self, cls, meth) -> None:
        f, acc, calls = getattr(cls, meth), self.acc, self.calls

        def wrapper(obj, *a, **k):
            t = time.perf_counter()
            r = f(obj, *a, **k)
            acc[cls.__name__, meth] += time.perf_counter() - t
            calls[cls.__name__, meth] += 1
            return r

        setattr(cls, meth, wrapper)

    def wrap_newton_schulz(self, *owners) -> None:
        """Time `newton_schulz` (the textbook's, one matrix) or `orthogonalise` (`fast`'s, all of them) on
        each of `owners` that has it."""
        for owner in owners:
            for name in ("newton_schulz", "orthogonalise"):
                if hasattr(owner, name):
                    setattr(owner, name, self._span(getattr(owner, name)))

    def _span(self, f):
        spans = self.ns

        def wrapper(*a, **k):
            t = time.perf_counter()
            r = f(*a, **k)
            spans.append((t, time.perf_counter()))
            return r

        return wrapper

    def ns_wall(self) -> float:
        total, end = 0.0, -float("inf")
        for a, b in sorted(self.ns):
            total += max(0.0, b - max(a, end))
            end = max(end, b)
        return total

    def clear(self) -> None:
        self.acc.clear(), self.calls.clear(), self.ns.clear()

    def by_kind(self, total: float, optimizer: float) -> dict[str, float]:
        """Seconds per kind; the optimizer's time split into Newton-Schulz and the rest; the remainder of `total`."""
        kinds = dict.fromkeys(ORDER, 0.0)
        for (op, _), v in self.acc.items():
            kinds[KINDS.get(op, "element-wise")] += v
        kinds[NS] = self.ns_wall()
        kinds[OPT] = optimizer - kinds[NS]
        kinds[REST] = total - sum(kinds.values())
        return kinds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("workload")
    ap.add_argument("--threads", type=int, choices=(1, 2), default=None)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--score", action="store_true", help="profile exact scoring (score_tokens) instead of training")
    ap.add_argument("--tokens", type=int, default=30_000, help="--score: val tokens to score")
    ap.add_argument("--batch-size", type=int, help="--score: rows per forward (default: score_rows's)")
    ap.add_argument("--torch", action="store_true", help="profile PyTorch's step too (torch must be importable)")
    args = ap.parse_args()
    set_threads(args.threads)
    # torch loads before lmladder's kernels: loaded after MKL (LMLADDER_GEMM=mkl), its GEMMs ran on one thread
    torch = _torch(args.threads) if args.torch else None
    import numpy as np

    import bench_train as bt
    from lmladder.autograd import Function
    from lmladder.nn import muon

    bt.np = np
    timers = Timers()
    timers.wrap_primitives(Function.registry)
    from lmladder import fast

    timers.wrap_newton_schulz(muon, fast.kernel(np.zeros(1, np.float32)))  # fast's ops, or None (numpy backend)
    w = bt.WORKLOADS[args.workload]
    data = batches(corpus_ids("shakespeare" if w["kind"] == "gpt" else "names", 200_000, w["vocab"]), w["B"], w["T"], 8)
    model, _ = bt.build_ours(w, data)
    if args.score:
        return profile_score(model, w, timers, args.tokens, args.batch_size)
    parts = train_steps(bt, model, w, data, timers, args.steps)
    n = args.steps
    step = sum(parts.values()) / n * 1e3
    print(" ".join(f"{k} {v / n * 1e3:.2f} ms" for k, v in parts.items()), f"step {step:.2f} ms")
    inside = sum(timers.acc.values())
    overhead = parts["forward"] + parts["backward"] - inside
    print(f"inside primitives {inside / n * 1e3:.2f} ms, graph overhead {overhead / n * 1e3:.2f} ms")
    print_kinds(timers.by_kind(sum(parts.values()), parts["clip+optimizer"]), n, "ms/step")
    print_ops(timers, n, "ms/step")
    if torch is not None:
        profile_torch(torch, bt, w, data, model, n)


def train_steps(bt, model, w: dict, data, timers: Timers, n: int) -> dict:
    """Seconds of forward, backward and clip+optimizer over n steps (after two untimed ones)."""
    import numpy as np

    from lmladder import nn

    opt = bt.build_optimizer(nn, model, w.get("optim", bt.ADAMW))  # the workload's optimizer, as bench_train's
    params, one = model.parameters(), np.asarray(1.0, dtype=np.float32)
    parts: dict = collections.defaultdict(float)
    for i in range(n + 2):  # two warm-up steps
        if i == 2:
            timers.clear(), parts.clear()
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
    return parts


def profile_score(model, w: dict, timers: Timers, n_tokens: int, rows: int | None) -> None:
    """score_tokens on the first n_tokens of Tiny Shakespeare's val split, after a small untimed warm-up."""
    from bench_train import TRAIN_CHARS
    from lmladder.inference.scoring import score_tokens

    val = corpus_ids("shakespeare", TRAIN_CHARS + n_tokens, w["vocab"])[TRAIN_CHARS:]
    score_tokens(model, val[:2_000], boundary_id=None, batch_size=rows)
    timers.clear()
    t = time.perf_counter()
    scored = score_tokens(model, val, boundary_id=None, batch_size=rows)["tokens"]
    total = time.perf_counter() - t
    per = scored / 1000  # the table's unit: ms per 1,000 scored tokens
    print(f"scored {scored} tokens in {total:.2f} s: {scored / total:,.0f} tokens/s")
    print_kinds(timers.by_kind(total, 0.0), per, "ms/1k tokens")
    print_ops(timers, per, "ms/1k tokens")


def print_kinds(kinds: dict[str, float], n: float, unit: str) -> None:
    total = sum(kinds.values())
    for kind, v in kinds.items():
        if v or kind in ORDER[:4] or kind == REST:
            print(f"  {kind:38s} {v / n * 1e3:9.3f} {unit}  {v / total:6.1%}")


def print_ops(timers: Timers, n: float, unit: str) -> None:
    for (op, meth), v in sorted(timers.acc.items(), key=lambda kv: -kv[1]):
        print(f"  {op:14s} {meth:8s} {v / n * 1e3:9.3f} {unit}  {timers.calls[op, meth] / n:5.1f} calls")


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
