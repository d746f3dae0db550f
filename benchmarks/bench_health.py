"""What network-health logging (training/health.py) costs: the nanogpt_cpu GPT on Tiny Shakespeare trained through the
real loop for `--steps` steps with health_interval = 0 (off), the default 100, and 1 (every step: the cost of one
health step, amplified), in interleaved rounds. Prints one JSON line.

    python benchmarks/bench_health.py --threads 2 [--steps 200] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _common import SHARED, machine_info, set_threads


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    set_threads(a.threads)
    from lmladder.data import DataConfig, ensure_prepared
    from lmladder.models import build_model
    from lmladder.training import CheckpointSettings, EvalSettings, OptimSettings, TrainSettings, make_rngs, train

    tmp = Path(tempfile.mkdtemp())
    data_cfg = DataConfig(source="file", path=str(SHARED / "tinyshakespeare.txt"), kind="stream", fractions=[0.9, 0.1])
    data, _ = ensure_prepared(data_cfg, prepared_dir=tmp / "prepared", cache_root=tmp / "cache", log=lambda *_: None)

    def run(interval: int) -> float:
        rngs = make_rngs(0)
        model = build_model("transformer", data=data, rng=rngs["model"], block_size=64, n_layer=4, n_head=4, n_embd=128)
        s = TrainSettings(
            max_iters=a.steps,
            batch_size=12,
            eval=EvalSettings(interval=10**6, iters=1),
            checkpoint=CheckpointSettings(interval=10**6),
            health_interval=interval,
            progress=False,
        )
        out = Path(tempfile.mkdtemp(dir=tmp))
        t0 = time.perf_counter()
        train(model, data, optim=OptimSettings(lr=1e-3), train=s, rngs=rngs, out_dir=out, log=lambda *_: None)
        return time.perf_counter() - t0

    times: dict[int, list[float]] = {0: [], 100: [], 1: []}
    run(0)  # warm-up: imports, the array pool, BLAS threads
    for _ in range(a.rounds):
        for interval in times:
            time.sleep(0.25)
            times[interval].append(run(interval))
    med = {k: statistics.median(v) for k, v in times.items()}
    # one health step's extra cost, from the every-step runs; at interval N it is paid once per N steps
    per_health_step = (med[1] - med[0]) / a.steps
    step = med[0] / a.steps
    print(
        json.dumps(
            {
                "bench": "health",
                "workload": "gpt_nanogpt_cpu",
                "steps": a.steps,
                "median_s": {f"health_interval={k}": round(v, 3) for k, v in med.items()},
                "overhead_interval_100_measured": round(med[100] / med[0] - 1, 4),
                "overhead_interval_100_from_cost": round(per_health_step / 100 / step, 4),
                "health_step_cost_in_steps": round(per_health_step / step, 3),
                "rounds": {f"health_interval={k}": [round(x, 3) for x in v] for k, v in times.items()},
                **machine_info(a.threads),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
