"""Ctrl-C that always stops a run, and says so in one line.

Python raises KeyboardInterrupt wherever the main thread is when SIGINT arrives. When that is inside a finaliser (a
`__del__`, a generator the garbage collector closes) Python prints "Exception ignored" and goes on, and the run
would train to its end as if never interrupted. Inside `catching()` a SIGINT also leaves a mark that the training
loop reads after every step (`check`), so an interrupt swallowed that way stops the run one step later.

A stage script takes a second or two to start (its imports, then Hydra composing the config) before its body's own
handler (app/policy.py) is in place; `quietly()` around that start makes a Ctrl-C there the same one line and exit
status 130 as one mid-run, not a traceback of whatever module was loading.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterator

from .environment import command_name

INTERRUPTED = 130  # 128 + SIGINT, as a shell reports a process Ctrl-C stopped
STARTING = "interrupted while starting, before any work; run it again"
RESUME = "rerun with resume=true to continue from the last checkpoint"  # what a run stopped by Ctrl-C is told

_pending = False  # a SIGINT arrived and no KeyboardInterrupt has been raised by check() since


def _on_sigint(signum, frame) -> None:
    global _pending
    _pending = True
    raise KeyboardInterrupt


@contextlib.contextmanager
def catching() -> Iterator[None]:
    """SIGINT raises KeyboardInterrupt, as Python's own handler does, and leaves the mark check() reads. A SIGINT
    that is ignored (a background job) or handled by someone else is left as it is."""
    global _pending
    main = threading.current_thread() is threading.main_thread()
    if not main or signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        yield
        return
    _pending = False
    signal.signal(signal.SIGINT, _on_sigint)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        _pending = False


def check() -> None:
    """Raise KeyboardInterrupt if a SIGINT arrived whose KeyboardInterrupt Python swallowed."""
    global _pending
    if _pending:
        _pending = False
        raise KeyboardInterrupt


@contextlib.contextmanager
def quietly(said: str = STARTING, name: str | None = None, stop=None) -> Iterator[None]:
    """A KeyboardInterrupt inside ends the process with "lmladder <name>: <said>" on stderr and exit status 130
    (`stop(130)` when given: an MPI world's abort); the command's name is read from argv unless given.
    LMLADDER_DEBUG=1 lets it through, traceback and all."""
    try:
        yield
    except KeyboardInterrupt:
        if os.environ.get("LMLADDER_DEBUG"):
            raise
        print(f"lmladder {name or command_name(sys.argv)}: {said}", file=sys.stderr, flush=True)
        (stop or sys.exit)(INTERRUPTED)
