"""Reading files a user names (corpora, --text, checkpoints, report tables): regular files only.

A path is examined with os.stat before anything opens it: opening a FIFO for reading blocks until a writer comes,
/dev/zero never ends, a directory or a symlink loop fails with an OS error that reads like "not found". Each is
refused in one line that says what the path is instead.
"""

from __future__ import annotations

import errno
import math
import os
import stat
import sys
from pathlib import Path

from ..errors import LmladderError
from ..resources import fmt_bytes

_CHUNK = 1 << 24  # 16 MiB a read

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def path_kind(path: str | os.PathLike) -> str:
    """'file' (a regular file, symlinks followed), 'missing', or what the path is instead, in words for a message:
    'a directory', 'a FIFO (named pipe)', 'a character device', 'a symlink loop', 'unreadable (<reason>)'."""
    try:
        mode = os.stat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return "missing"
    except OSError as e:
        return "a symlink loop" if e.errno == errno.ELOOP else f"unreadable ({e.strerror or e})"
    except ValueError:  # an embedded NUL byte
        return "missing"
    if stat.S_ISREG(mode):
        return "file"
    return next((kind for test, kind in _KINDS if test(mode)), "not a regular file")


def check_user_file(
    path: str | os.PathLike, *, what: str, fix: str, error: type[LmladderError], missing: str | None = None
) -> None:
    """Raise `error` unless `path` is a regular file: "{what} is a FIFO (named pipe), not a regular file; {fix}".
    `missing` is the whole message for a path where nothing is (default "{what}: no such file; {fix}")."""
    kind = path_kind(path)
    if kind == "missing":
        raise error(missing or f"{what}: no such file; {fix}")
    if kind.startswith("unreadable"):
        raise error(f"{what} is {kind}; check the permissions of the file and its folders")
    if kind != "file":
        raise error(f"{what} is {kind}, not a regular file; {fix}")


RUN_CHECKPOINT = "model.safetensors"  # the checkpoint a run folder holds (its last, which resume continues from)
NO_CHECKPOINT = f"give a run folder (outputs/<rung>/seed<N>) or a {RUN_CHECKPOINT}"


def checkpoint_path(target: str | os.PathLike, *, error: type[LmladderError]) -> Path:
    """The checkpoint file a command is given as "a run folder or a checkpoint file": the run folder's
    model.safetensors, or the file itself; anything else is refused with `error`, saying what the path is."""
    path, kind = Path(target), path_kind(target)
    if kind == "file":
        return path
    if kind == "a directory":
        if path_kind(path / RUN_CHECKPOINT) == "file":
            return path / RUN_CHECKPOINT
        raise error(f"{target} holds no {RUN_CHECKPOINT}; {NO_CHECKPOINT}")
    what = "no such file or folder" if kind == "missing" else f"is {kind}"
    raise error(f"{target}: {what}; {NO_CHECKPOINT}")


def read_user_file(
    path: str | os.PathLike,
    *,
    what: str,
    fix: str,
    error: type[LmladderError],
    missing: str | None = None,
    max_bytes: float = math.inf,
    too_big: str = "",
) -> bytes:
    """The bytes of the regular file at `path`, after `check_user_file` (same arguments). Read in bounded chunks:
    a file over `max_bytes` (by its size, or by what it yields, should it grow) is refused with `too_big`."""
    check_user_file(path, what=what, fix=fix, error=error, missing=missing)

    def over() -> LmladderError:
        return error(f"{what} is over {fmt_bytes(max_bytes)}, {too_big}")

    try:
        fd = os.open(Path(path), _read_flags())
        with os.fdopen(fd, "rb") as f:
            st = os.fstat(f.fileno())
            if not stat.S_ISREG(st.st_mode):
                raise error(f"{what} stopped being a regular file while it was opened; {fix}")
            if st.st_size > max_bytes:
                raise over()
            return _read_bounded(f, max_bytes, over)
    except OSError as e:
        raise error(f"{what}: cannot read it ({e.strerror or e}); check its permissions") from None


def _read_flags() -> int:
    # O_NONBLOCK: should a FIFO be swapped in after the stat, opening it must still not wait for a writer (Windows
    # has no O_NONBLOCK, and no FIFO at a file's path). O_BINARY: Windows reads CRLF as LF through an fd without it.
    return os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)


def read_stdin(*, what: str, error: type[LmladderError], max_bytes: float = math.inf, too_big: str = "") -> bytes:
    """Standard input's bytes, to its end (a pipe, a file, a here-string), refused past `max_bytes` as
    `read_user_file` refuses a file."""
    if sys.stdin is None:
        raise error(f"{what}: this process has no standard input; pipe the text in, or give a file's path")
    try:
        return _read_bounded(
            sys.stdin.buffer, max_bytes, lambda: error(f"{what} is over {fmt_bytes(max_bytes)}, {too_big}")
        )
    except OSError as e:
        raise error(f"{what}: cannot read it ({e.strerror or e}); pipe the text in, or give a file's path") from None


def _read_bounded(f, max_bytes: float, over) -> bytes:
    chunks, n = [], 0
    while chunk := f.read(_CHUNK):
        n += len(chunk)
        if n > max_bytes:
            raise over()
        chunks.append(chunk)
    return b"".join(chunks)
