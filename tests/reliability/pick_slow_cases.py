"""Which in-process bad-input cases the default tier can leave to the slow tier: those whose lines of lmladder other
default cases cover too. Runs every in-process case under coverage with per-test contexts (~3 minutes on 2 cores),
keeps a greedy cover of the lines they reach together (Hydra's own reports always, which fail under a tracer),
and writes the rest to SLOW_IN_PROCESS; the slow tier runs them all, in-process and as subprocesses:

python -m pip install pytest-cov   # not a dev dependency: only this script needs it
python -m tests.reliability.pick_slow_cases
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

from .cases import CASES
from .harness import ROOT

SLOW_IN_PROCESS = Path(__file__).with_name("slow_in_process.txt")
HEADER = "# written by `python -m tests.reliability.pick_slow_cases`: in-process cases run in the slow tier only\n"


def slow_ids() -> set[str]:
    """The case ids the default tier leaves out of test_in_process."""
    lines = SLOW_IN_PROCESS.read_text().splitlines()
    return {ln for ln in lines if ln and not ln.startswith("#")}


def lines_by_case(coverage_file: Path) -> dict[str, set[tuple[str, int]]]:
    from coverage import CoverageData

    data = CoverageData(basename=str(coverage_file))
    data.read()
    reached = defaultdict(set)
    for f in data.measured_files():
        for line, contexts in data.contexts_by_lineno(f).items():
            for c in contexts:
                if "::test_in_process[" in c and c.endswith("|run"):
                    reached[c.split("[", 1)[1].rsplit("]", 1)[0]].add((f, line))
    return reached


def greedy_cover(reached: dict[str, set], keep: set[str]) -> set[str]:
    """`keep` plus, one at a time, the case that reaches the most lines not yet reached, until all are."""
    keep, covered = set(keep), set().union(*(reached.get(k, set()) for k in keep))
    everything = set().union(*reached.values())
    while covered != everything:
        best = max(sorted(reached), key=lambda k: len(reached[k] - covered))
        keep.add(best)
        covered |= reached[best]
    return keep


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / ".coverage"
        cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "tests/reliability/test_bad_input.py",
               "-k", "test_in_process", "-m", "slow or not slow", "--cov=lmladder", "--cov-context=test",
               "--cov-report="]  # fmt: skip
        subprocess.run(cmd, cwd=ROOT, env={**os.environ, "COVERAGE_FILE": str(data)}, check=False)
        reached = lines_by_case(data)
    keep = greedy_cover(reached, {c.id for c in CASES if c.hydra} | ({c.id for c in CASES} - set(reached)))
    slow = sorted({c.id for c in CASES} - keep)
    SLOW_IN_PROCESS.write_text(HEADER + "".join(f"{i}\n" for i in slow))
    print(f"{len(keep)} in-process cases in the default tier, {len(slow)} in the slow tier -> {SLOW_IN_PROCESS}")


if __name__ == "__main__":
    main()
