"""The test suite's cost in CPU seconds, per test and per file: a pytest plugin and its summary.

Wall times from a shared machine say more about the neighbours than about the tests; CPU seconds (the test's process
and the subprocesses it waited for, getrusage) move far less. Each xdist worker writes one TSV; a module's fixtures
count in the first test that uses them.

    CPUPROF_DIR=/tmp/cpu PYTHONPATH=src:benchmarks python -m pytest -p suite_cpu ...   # -n 2 or -n 0
    python benchmarks/suite_cpu.py /tmp/cpu [40]                                      # per file, most first
"""

from __future__ import annotations

import collections
import os
import resource
import sys
import time
from pathlib import Path

import pytest

_rows: list[tuple[str, float, float, float]] = []


def _cpu() -> tuple[float, float]:
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime, kids.ru_utime + kids.ru_stime


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    (own, kids), wall = _cpu(), time.perf_counter()
    yield
    (own2, kids2), wall2 = _cpu(), time.perf_counter()
    _rows.append((item.nodeid, own2 - own, kids2 - kids, wall2 - wall))


def pytest_sessionfinish(session):
    out = os.environ.get("CPUPROF_DIR")
    if not out or not _rows:  # xdist's controller runs no test
        return
    Path(out).mkdir(parents=True, exist_ok=True)
    lines = [f"{n}\t{a:.3f}\t{b:.3f}\t{w:.3f}\n" for n, a, b, w in _rows]
    (Path(out) / f"{os.environ.get('PYTEST_XDIST_WORKER', 'main')}.tsv").write_text("".join(lines))


def per_file(folder: Path) -> dict[str, list[float]]:
    """file -> [own CPU s, subprocesses' CPU s, wall s, tests]."""
    files: dict[str, list[float]] = collections.defaultdict(lambda: [0.0, 0.0, 0.0, 0])
    for tsv in folder.glob("*.tsv"):
        for line in tsv.read_text().splitlines():
            node, *numbers = line.split("\t")
            row = files[node.split("::")[0]]
            for i, x in enumerate(numbers):
                row[i] += float(x)
            row[3] += 1
    return files


if __name__ == "__main__":
    files = per_file(Path(sys.argv[1]))
    total = sum(r[0] + r[1] for r in files.values())
    print(f"{total:8.1f} CPU s in all ({sum(r[3] for r in files.values())} tests)")
    print("     CPU      own  subproc     wall tests file")
    for name, (own, kids, wall, n) in sorted(files.items(), key=lambda kv: -(kv[1][0] + kv[1][1]))[
        : int(sys.argv[2]) if len(sys.argv) > 2 else 40
    ]:
        print(f"{own + kids:8.1f} {own:8.1f} {kids:8.1f} {wall:8.1f} {n:5d} {name}")
