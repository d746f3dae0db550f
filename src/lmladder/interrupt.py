"""Ctrl-C that always stops a run.

Python raises KeyboardInterrupt wherever the main thread is when SIGINT arrives. When that is inside a finaliser (a
`__del__`, a generator the garbage collector closes) Python prints "Exception ignored" and goes on, and the run
would train to its end as if never interrupted. Inside `catching()` a SIGINT also leaves a mark that the training
loop reads after every step (`check`), so an interrupt swallowed that way stops the run one step later.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

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
