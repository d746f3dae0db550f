"""One training run per run folder: an exclusive lock on `<folder>/.lmladder.lock`, held for the whole run.

Two runs writing one folder would interleave their checkpoints, logs and metrics into a result neither computed.
The lock is flock(2), non-blocking: the second run fails at once instead of waiting, and the kernel releases the
lock when its holder dies, so a killed run never leaves the folder locked. Where fcntl is missing (Windows) the
lock is a no-op.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from ..errors import LmladderError
from .atomic import WriteError

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None

LOCK_NAME = ".lmladder.lock"


class RunLockedError(LmladderError, RuntimeError):
    """Another process is training into the same folder; the message names the folder and the fix."""


@contextlib.contextmanager
def run_lock(folder: str | os.PathLike) -> Iterator[None]:
    """Hold the run lock of `folder` (created if missing) for the `with` body, or raise RunLockedError."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if fcntl is None:  # pragma: no cover - not POSIX
            yield
            return
        path = folder / LOCK_NAME
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        raise WriteError(f"cannot create {folder}: {e.strerror or e}; choose a writable output folder") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            # the holder before us unlinks the file on release: a lock on an inode no longer at `path` is no lock
            held = os.fstat(fd).st_ino == os.stat(path).st_ino
        except (BlockingIOError, FileNotFoundError):
            held = False
        if not held:
            owner = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            raise RunLockedError(
                f"{folder} is in use by another training run (process {owner}, lock {LOCK_NAME}); wait for it to "
                "finish, or train this one into another folder: out_dir=<a new folder>"
            )
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        try:
            yield
        finally:
            with contextlib.suppress(OSError):  # unlinked while locked: a waiting opener re-checks the inode
                path.unlink()
    finally:
        os.close(fd)
