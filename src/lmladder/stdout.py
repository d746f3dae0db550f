"""Standard output that can fail: a closed pipe (`| head -1`), a full disk (`> /dev/full`), a file-size limit.

Every entry point (the `lmladder` command, each stage script) runs inside `guarded_stdout(prog)`: the first write to
stdout that fails ends the process at once, with one line on stderr (nothing for a closed pipe, as any Unix filter)
and a non-zero exit, wherever the write came from: a print, a log line, a flush at exit. Files are not involved:
what lmladder writes to disk is written atomically, so a run stopped this way leaves every file whole.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import sys
from collections.abc import Iterator

CLOSED_PIPE = 141  # 128 + SIGPIPE: the exit status of a Unix filter whose reader went away
FAILED = 2  # as every other lmladder error


class StdoutFailed(SystemExit):
    """A write to stdout failed. A SystemExit, so that no `except Exception` (the stages', Hydra's, logging's) takes
    it for an error of the job: it ends the process, through every `finally`, with its exit status."""


def _message(e: OSError) -> str:
    if e.errno in (errno.ENOSPC, errno.EDQUOT):
        fix = "free disk space (or quota) on the device it goes to, or send it elsewhere"
    elif e.errno == errno.EFBIG:
        fix = "raise the file-size limit (ulimit -f), or send it elsewhere"
    else:
        fix = "send it to a file or terminal that can be written"
    return f"cannot write to standard output ({e.strerror or e}); {fix} (> /dev/null discards it)"


class _GuardedFd(io.RawIOBase):
    """stdout's fd as a raw stream whose first failed write reports and stops; after it, writes are dropped, so that
    no later flush (a `finally`, the interpreter's at exit) hits the same failure again."""

    name = "<stdout>"  # as sys.stdout.name

    def __init__(self, fd: int, prog: str):
        self.fd, self.prog, self.failed = fd, prog, False

    def writable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self.fd

    def isatty(self) -> bool:
        return os.isatty(self.fd)

    def write(self, b) -> int:
        if self.failed:
            return len(b)
        try:
            return os.write(self.fd, b)
        except OSError as e:
            self.failed = True
            code = CLOSED_PIPE if e.errno == errno.EPIPE else FAILED
            if code == FAILED:
                with contextlib.suppress(OSError):
                    print(f"{self.prog}: error: {_message(e)}", file=sys.stderr, flush=True)
            if sys.is_finalizing():  # the interpreter's own flush at exit: an exception would only be printed
                os._exit(code)
            raise StdoutFailed(code) from None


def guard_stdout(prog: str) -> None:
    """Put sys.stdout on a guard (same fd, buffering and encoding; characters the encoding lacks escaped) whose
    messages start with `prog`, or rename the guard already there. A stdout already replaced (a test's capture, a
    StringIO) or closed is left alone."""
    out = sys.stdout
    binary = getattr(out, "buffer", None)
    if isinstance(guard := getattr(binary, "raw", binary), _GuardedFd):
        guard.prog = prog
        return
    if out is not sys.__stdout__ or not isinstance(out, io.TextIOWrapper):
        return
    out.flush()
    raw = _GuardedFd(out.fileno(), prog)
    unbuffered = isinstance(out.buffer, io.RawIOBase)  # python -u, PYTHONUNBUFFERED
    sys.stdout = io.TextIOWrapper(
        raw if unbuffered else io.BufferedWriter(raw),
        encoding=out.encoding,
        # a character the encoding lacks (Windows' cp1252 in a pipe has no Δ) goes out as \u0394, not as a crash
        errors="backslashreplace" if out.errors == "strict" else out.errors,
        line_buffering=out.line_buffering,
        write_through=out.write_through,
    )


@contextlib.contextmanager
def guarded_stdout(prog: str) -> Iterator[None]:
    """Run an entry point with a guarded stdout, flushed at the end: the interpreter's own flush after a script
    would swallow the failure (and exit 0)."""
    guard_stdout(prog)
    try:
        yield
    finally:
        if sys.stdout is not None:
            sys.stdout.flush()
