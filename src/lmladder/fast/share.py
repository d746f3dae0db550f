"""Sharing the machine: how many threads the compiled kernels run on, decided again while the process runs.

A parallel region ends when its last chunk does. When other processes keep the cores busy, the scheduler takes one
of our threads away now and then, and the others wait for it at the end of region after region: beside one
spinning process a 2-thread training step ran at 0.05 of its idle speed, where a fair share is half (and one
thread alone got the whole half). So the pool runs on the cores that other processes leave free: every WINDOW
seconds `threads()` reads how much CPU time the cores this process may use spent busy and how much of it was ours,
and sets the count to the usable cores minus the others' use, rounded, between 1 and the width. Fewer threads are
taken at once; more only after a second window agrees, so a neighbour's pause does not make the count flap.

The width is the thread count asked for (set_width, OMP_NUM_THREADS, else the usable cores). Every kernel splits its
work by the width, never by the threads that happen to run it, so the count changes the speed, never the bits.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

import psutil

from ..resources import threads_asked, usable_cores

WINDOW = 0.25  # seconds between two decisions


def _affinity() -> list[int] | None:
    try:
        cpus = psutil.Process().cpu_affinity()
        return cpus if cpus and max(cpus) < psutil.cpu_count() else None
    except (AttributeError, psutil.Error, OSError):
        return None


def machine_reading(cpus: list[int] | None = None) -> tuple[float, float]:
    """(CPU seconds the cores `cpus` (None: all) spent busy since boot, whoever ran there; CPU seconds of this
    process)."""
    rows = psutil.cpu_times(percpu=True)
    busy = 0.0
    for i in range(len(rows)) if cpus is None else cpus:
        t = rows[i]
        # guest time is already in user time (Linux); idle and waiting for I/O are not busy
        busy += sum(t) - t.idle - getattr(t, "iowait", 0) - getattr(t, "guest", 0) - getattr(t, "guest_nice", 0)
    return busy, time.process_time()


def _set_pool(n: int) -> None:
    import numba  # here, not at the top: the numpy backend runs without numba

    numba.set_num_threads(n)


@dataclass
class Share:
    """The thread count of one process: `width` asked for, `running` now. `read` gives (the machine's busy CPU
    seconds, ours) and `apply` sets the pool's count (tests pass their own)."""

    width: int
    cores: int = field(default_factory=usable_cores)
    read: Callable[[], tuple[float, float]] = field(default_factory=lambda: partial(machine_reading, _affinity()))
    apply: Callable[[int], None] = _set_pool
    running: int = 0
    others: float = 0.0  # cores the other processes kept busy in the last window
    pinned: bool = False  # pin(): a fixed count, not decided again
    changes: list[str] = field(default_factory=list)  # log lines not yet taken (news())
    _due: float = 0.0
    _mark: tuple[float, float, float] | None = None  # (wall, machine busy, ours) at the window's start
    _rising: bool = False

    def __post_init__(self):
        self.running = self.width
        self.apply(self.width)

    def threads(self, now: float | None = None) -> int:
        now = time.perf_counter() if now is None else now
        if now >= self._due and not self.pinned:
            self._decide(now)
        return self.running

    def _decide(self, now: float) -> None:
        self._due = now + WINDOW
        try:
            mark = (now, *self.read())
        except (OSError, psutil.Error):  # no CPU times here (a chroot without /proc): keep the count as it is
            self._due = math.inf
            return
        if self._mark is not None and self.width > 1:
            wall, busy, ours = (b - a for a, b in zip(self._mark, mark, strict=True))
            self.others = max(0.0, busy - ours) / wall
            want = min(self.width, max(1, int(self.cores - self.others + 0.5)))
            rise = want > self.running
            if want < self.running or (rise and self._rising):
                self.set(want)
            self._rising = rise
        self._mark = mark

    def set(self, n: int) -> None:
        """Run on n threads from now on (1 <= n <= width), saying why in `changes`."""
        self.apply(n)
        if self.pinned:
            why = "pinned"
        elif n < self.width:
            why = f"other processes keep {self.others:.1f} of {self.cores} cores busy"
        else:
            why = "the cores are free again"
        self.changes.append(f"sharing the machine: {n} of {self.width} threads ({why})")
        self.running = n


_share: Share | None = None
_width: int | None = None  # set_width's count, used when the pool starts


def set_width(n: int) -> None:
    """Split the kernels' work for n threads and run on at most n (MPI ranks sharing a machine's cores set this)."""
    global _share, _width
    _width = n
    if _share is not None:
        _share = None
        state()


def state() -> Share:
    """The process's Share, made on first use (this starts numba's thread pool)."""
    global _share
    if _share is None:
        import numba

        n = _width or threads_asked() or usable_cores()
        _share = Share(max(1, min(n, numba.config.NUMBA_NUM_THREADS)))
    return _share


def threads() -> int:
    """The threads the kernels run on now (decided again at most every WINDOW seconds)."""
    return (_share or state()).threads()


def width() -> int:
    """The thread count the kernels split their work for."""
    return (_share or state()).width


def pin(n: int | None) -> None:
    """Run on exactly n threads (at most the width) whatever the machine does; None: decide again from now on.
    For tests and benchmarks that compare thread counts."""
    s = state()
    s.pinned = n is not None
    if n is not None and n != s.running:
        s.set(max(1, min(n, s.width)))
    s.changes.clear()


def summary() -> str:
    """One log line: the threads and where their count comes from."""
    s = state()
    if _width:
        source = "asked for"
    elif threads_asked():
        source = f"OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']}"
    else:
        source = "one per usable core"
    follow = ", fewer while other processes keep cores busy" if s.width > 1 and not s.pinned else ""
    return f"threads: {s.width} ({source}) of {s.cores} usable cores{follow}"


def news() -> list[str]:
    """The thread-count changes since the last call, as log lines."""
    if _share is None or not _share.changes:
        return []
    out, _share.changes = _share.changes, []
    return out
