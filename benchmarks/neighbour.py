"""Speed beside another busy program, as users meet it: the same contenders timed idle and beside a neighbour, in
alternating phases of one run, and the ratio busy / idle for each.

The neighbour is started once, in a session of its own (as another terminal's program is: the kernel's autogroups
then give each session an equal share of the CPU), and paused between phases (psutil's suspend / resume, SIGSTOP
and SIGCONT on POSIX). `spin` is one process that only spins; `same` is a second lmladder process running the same
workload in a loop (the script's own command with --loop).

Each turn of a contender starts with `settle` seconds of untimed calls (lmladder decides its thread count again
every 0.25 s: fast/share.py; a user's run is long, so its steady state is what matters), then calls it until
`seconds` have passed; its rate is calls per second. Phases alternate idle, busy, idle, busy ...; a round is one
idle and one busy phase, and the ratio of each round's busy rate to its idle rate gives the spread.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

import psutil

SPIN = [sys.executable, "-c", "while True: pass"]


class Neighbour:
    """Another program on the machine, started paused and resumed only for the busy phases."""

    def __init__(self, command: list[str], start_s: float = 0.0):
        self.proc = subprocess.Popen(command, start_new_session=True, stdout=subprocess.DEVNULL)
        time.sleep(start_s)  # a training neighbour imports and compiles before it is busy
        self.ps = psutil.Process(self.proc.pid)
        self.ps.suspend()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.proc.kill()
        self.proc.wait()

    def busy(self, on: bool) -> None:
        if self.proc.poll() is not None:
            sys.exit(f"neighbour: the neighbour process ended (exit {self.proc.returncode}); run its command alone")
        (self.ps.resume if on else self.ps.suspend)()


def _rate(fn, settle: float, seconds: float) -> float:
    """Calls of fn per second over `seconds`, after `settle` seconds of untimed calls."""
    for limit in (settle, seconds):
        n, t0 = 0, time.perf_counter()
        while (dt := time.perf_counter() - t0) < limit or n == 0:
            fn()
            n += 1
    return n / dt


def beside(fns: dict, neighbour: Neighbour, rounds: int, seconds: float, settle: float = 1.0) -> dict:
    """{name: {"idle": calls/s, "busy": calls/s, "ratio": busy / idle, "ratio_rounds": [min, median, max]}}, the
    rates being medians over rounds."""
    rates = {k: {"idle": [], "busy": []} for k in fns}
    for _ in range(rounds):
        for phase in ("idle", "busy"):
            neighbour.busy(phase == "busy")
            for k, fn in fns.items():
                time.sleep(0.25)  # OpenBLAS's and torch's OpenMP workers spin a while after a call
                rates[k][phase].append(_rate(fn, settle, seconds))
    neighbour.busy(False)
    out = {}
    for k, r in rates.items():
        per_round = sorted(b / i for i, b in zip(r["idle"], r["busy"], strict=True))
        idle, busy = statistics.median(r["idle"]), statistics.median(r["busy"])
        out[k] = {"idle": idle, "busy": busy, "ratio": round(busy / idle, 3)}
        spread = (per_round[0], statistics.median(per_round), per_round[-1])
        out[k]["ratio_rounds"] = [round(x, 3) for x in spread]
    return out


def loop(fn) -> None:
    """A neighbour's body: fn again and again, until killed."""
    while True:
        fn()
