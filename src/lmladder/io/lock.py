"""One training run per run folder: an exclusive lock on `<folder>/.lmladder.lock`, held for the whole run (and
one `lmladder frontier run` per study folder, the same way: folder_lock).

Two runs writing one folder would interleave their checkpoints, logs and metrics into a result neither computed.
The lock is filelock's, taken without waiting: the second run fails at once instead of waiting. It is the OS's own
lock where there is one (flock on Linux and macOS, LockFileEx on Windows), which the OS releases when its holder
dies, so a killed run never leaves the folder locked; elsewhere filelock's marker file, whose dead holder the next
run recognises by its process id. The holder's process id is written beside the lock (`.lmladder.pid`: Windows
locks the lock file's first byte against other readers) for the message that refuses a second run.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import filelock

from ..errors import LmladderError
from .atomic import WriteError, atomic_write_text

LOCK_NAME = ".lmladder.lock"
OWNER_NAME = ".lmladder.pid"


class FolderTakenError(LmladderError, RuntimeError):
    """The folder is another run's (finished, or in use by another process): this one stops before writing into it,
    and a sweep's job stopped so leaves the folder's status.json as it was (app/policy.py)."""


class RunLockedError(FolderTakenError):
    """Another process is training into the same folder; the message names the folder and the fix."""


def run_lock(folder: str | os.PathLike) -> contextlib.AbstractContextManager[None]:
    """Hold the run lock of `folder` (created if missing) for the `with` body, or raise RunLockedError."""

    def busy(owner: str) -> LmladderError:
        return RunLockedError(
            f"{folder} is in use by another training run (process {owner}, lock {LOCK_NAME}); wait for it to "
            "finish, or train this one into another folder: out_dir=<a new folder>"
        )

    return folder_lock(folder, busy)


@contextlib.contextmanager
def folder_lock(folder: str | os.PathLike, busy: Callable[[str], LmladderError]) -> Iterator[None]:
    """Hold the lock of `folder` (created if missing) for the `with` body, or raise `busy(the holder's process id)`."""
    folder = Path(folder)
    path, owner = folder / LOCK_NAME, folder / OWNER_NAME
    lock = filelock.FileLock(path)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        lock.acquire(timeout=0)
    except filelock.Timeout:
        raise busy(_owner(owner)) from None
    except OSError as e:
        raise WriteError(f"cannot create {folder}: {e.strerror or e}; choose a writable output folder") from None
    try:
        atomic_write_text(owner, f"{os.getpid()}\n")
        yield
    finally:
        with contextlib.suppress(OSError):
            owner.unlink()
        # removed while still held: a run that opened the file meanwhile finds it unlinked and does not count it as
        # a lock (filelock checks); where the OS refuses (Windows, a file in use), filelock's release removes it
        with contextlib.suppress(OSError):
            path.unlink()
        lock.release()


def _owner(path: Path) -> str:
    """The process id the holder wrote, or "?" (it has not written it yet)."""
    try:
        return path.read_text(encoding="ascii").strip() or "?"
    except (OSError, ValueError):
        return "?"
