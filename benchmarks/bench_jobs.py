"""Jobs side by side: do K training runs started together finish no later than the same K runs one after the other?

Each job is `python stages/train.py <overrides>` in a session of its own (as runs started by hand in two terminals,
or by `dvc queue start -j 2`, are), writing into a temporary folder. Rounds alternate the two ways of running them;
the JSON line gives each way's median wall time over rounds, their ratio (together / one after the other: at most 1
is the goal) and its spread over rounds, and the thread-count lines the jobs logged.

    python benchmarks/bench_jobs.py [--jobs 2] [--rounds 3] [--src DIR] -- rung=transformer \
        transformer.train.max_iters=600

--src runs another checkout's library (its src/ first on PYTHONPATH), e.g. to time the code before a change.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine_info  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def start(overrides: list[str], out: Path, env: dict) -> subprocess.Popen:
    cmd = [sys.executable, str(ROOT / "stages" / "train.py"), *overrides, f"hydra.run.dir={out}"]
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)  # fmt: skip


def finish(procs: list[subprocess.Popen]) -> list[str]:
    logs = []
    for p in procs:
        log, _ = p.communicate()
        if p.returncode:
            sys.exit(f"bench_jobs: a job failed (exit {p.returncode}):\n{log[-2000:]}")
        logs.append(log)
    return logs


def timed(overrides, jobs: int, together: bool, tmp: Path, env: dict) -> tuple[float, list[str]]:
    t0, logs = time.perf_counter(), []
    if together:
        logs = finish([start(overrides, tmp / f"{together}{i}", env) for i in range(jobs)])
    else:
        for i in range(jobs):
            logs += finish([start(overrides, tmp / f"{together}{i}", env)])
    return time.perf_counter() - t0, logs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--src", help="a checkout's src/ folder to run instead of this one's")
    ap.add_argument("overrides", nargs="*", default=["rung=transformer", "transformer.train.max_iters=600"])
    args = ap.parse_args()
    env = dict(os.environ)
    if args.src:
        env["PYTHONPATH"] = os.pathsep.join([str(Path(args.src).resolve()), env.get("PYTHONPATH", "")])
    print(json.dumps({"benchmark": "machine", **machine_info(None)}), flush=True)
    walls = {True: [], False: []}
    lines = set()
    with tempfile.TemporaryDirectory() as tmp:
        timed(args.overrides, 1, False, Path(tmp) / "warm", env)  # data prepared and kernels compiled once
        for r in range(args.rounds):
            for together in (r % 2 == 0, r % 2 == 1):
                wall, logs = timed(args.overrides, args.jobs, together, Path(tmp) / f"r{r}", env)
                walls[together].append(wall)
                lines |= {x for log in logs for x in log.splitlines() if "threads" in x}
    ratios = sorted(t / s for t, s in zip(walls[True], walls[False], strict=True))
    row = {"benchmark": "jobs", "jobs": args.jobs, "overrides": args.overrides, "src": args.src or "this checkout"}
    row |= {
        "together_s": round(statistics.median(walls[True]), 2),
        "one_after_another_s": round(statistics.median(walls[False]), 2),
    }
    row |= {"together_over_sequential": round(row["together_s"] / row["one_after_another_s"], 3)}
    row |= {"ratio_rounds": [round(ratios[0], 3), round(statistics.median(ratios), 3), round(ratios[-1], 3)]}
    row["logged"] = sorted(lines)
    print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
