"""Atomic writes: a reader (or a crash) sees the old content or the complete new content, never half a file.

Files are written to a uniquely named temporary sibling (same directory, hence same file system, so the final
`os.replace` is an atomic rename), flushed and fsynced, renamed over the target, and the directory is fsynced so the
rename itself survives a power cut. On any failure the temporary is removed and the old target is left untouched.
OS errors (disk full, permission denied, read-only file system) surface as one-line `WriteError`s with a fix.
"""

from __future__ import annotations

import contextlib
import errno as errno_codes
import json
import os
import re
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from ..errors import LmladderError
from .files import path_kind


class WriteError(LmladderError, OSError):
    """Writing a file or directory failed; the message names the path, the OS reason and the fix."""

    def __init__(self, message: str, *, errno: int | None = None, filename: str | None = None):
        super().__init__(message)
        self.errno = errno
        self.filename = filename

    def __str__(self) -> str:
        return str(self.args[0])


def _fix_for(exc: OSError, path: Path) -> str:
    where = path.parent
    code = exc.errno
    if code in (errno_codes.ENOSPC, getattr(errno_codes, "EDQUOT", errno_codes.ENOSPC), errno_codes.EFBIG):
        return f"free disk space (or quota) on the device holding {where} and retry"
    if code in (errno_codes.EACCES, errno_codes.EPERM):
        return f"check permissions of {where} (and of {path} if it exists)"
    if code == errno_codes.EROFS:
        return f"{where} is on a read-only file system; write to a writable location"
    if code == errno_codes.EISDIR:
        return f"{path} is a directory; choose a file path"
    if code in (errno_codes.ENOTDIR, errno_codes.EEXIST):
        return f"a file is in the way of a directory on the path {path}; move it or choose another path"
    return f"check that {where} is writable and retry"


def write_error(path: Path, exc: OSError) -> WriteError:
    """The WriteError that says writing `path` failed with `exc`, and the fix for that reason."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    if exc.errno is None and "written" in str(exc):  # NumPy's short write ("N requested and M written"): no space
        exc = OSError(errno_codes.ENOSPC, f"{reason} (the disk is probably full)")
        reason = exc.strerror
    return WriteError(f"cannot write {path}: {reason}; {_fix_for(exc, path)}", errno=exc.errno, filename=str(path))


@contextlib.contextmanager
def _as_write_error(path: Path) -> Iterator[None]:
    """Re-raise any OSError (other than a WriteError) as a WriteError about `path`."""
    try:
        yield
    except WriteError:
        raise
    except OSError as exc:
        raise write_error(path, exc) from exc


def _check_target(path: Path) -> None:
    """Refuse a target that is a device, FIFO or socket (symlinks followed): the rename would put the new file in its
    place (`--units /dev/null`, run as root, replaced /dev/null). A folder or a file in the way fails as before."""
    kind = path_kind(path)
    if kind in ("missing", "file", "a directory", "a symlink loop") or kind.startswith("unreadable"):
        return
    raise WriteError(
        f"cannot write {path}: it is {kind}, which renaming the new file into place would replace; give the path of "
        "a regular file",
        filename=str(path),
    )


def _fsync(path: str | Path) -> None:
    # A file's bytes, or a directory's entries (which makes a rename durable). Best effort: some platforms and
    # file systems cannot open or fsync a directory.
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _fsync_tree(root: Path) -> None:
    # The files' bytes must be on disk before the rename publishes them (best effort, like _fsync).
    for folder, _, files in os.walk(root):
        for name in files:
            file = os.path.join(folder, name)
            if os.path.islink(file) or not os.path.isfile(file):
                continue  # opening a FIFO would block; a link's target is not ours to sync
            _fsync(file)
        _fsync(folder)


def _sibling_name(path: Path, tag: str) -> Path:
    # Hidden, unique and in the same directory, so the final rename never crosses a file system.
    return path.with_name(f".{path.name}.{secrets.token_hex(6)}.{tag}")


_STALE = re.compile(r"\..+\.[0-9a-f]{12}\.tmp")


def remove_stale_temps(directory: str | os.PathLike, of: str | None = None) -> list[str]:
    """Delete the temporary files and folders a killed writer left in `directory` (names as `_sibling_name` makes
    them), only those of the file or folder named `of` if given; returns their names. Only where this process alone
    writes (a run's output folder; one prepared folder under its lock): elsewhere it would delete another writer's
    work in progress."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    pattern = re.compile(rf"\.{re.escape(of)}\.[0-9a-f]{{12}}\.tmp") if of else _STALE
    stale = sorted(p for p in directory.iterdir() if pattern.fullmatch(p.name) and not p.is_symlink())
    for p in stale:
        _remove_quietly(p)
    return [p.name for p in stale]


def _remove_quietly(path: Path) -> None:
    with contextlib.suppress(OSError):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink()


def _create_temp_file(path: Path) -> tuple[int, Path]:
    # Not tempfile.mkstemp: that forces mode 0600, while a checkpoint should get the usual umask-based mode.
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        tmp = _sibling_name(path, "tmp")
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(errno_codes.EEXIST, "could not create a unique temporary file", str(path))


@contextlib.contextmanager
def atomic_writer(path: str | os.PathLike, mode: str = "wb") -> Iterator[IO[Any]]:
    """Yield a file object ("wb", or "w"/"wt" for UTF-8 text without newline translation) that replaces `path`
    atomically when the `with` exits normally; an exception in it discards the file and leaves `path` untouched.
    Any OSError raised in the `with` or by the write itself becomes a `WriteError`."""
    if mode not in ("wb", "w", "wt"):
        raise ValueError(f"atomic_writer: mode {mode!r} is not supported; use 'wb' (bytes) or 'w' (text)")
    path = Path(path)
    _check_target(path)
    with _as_write_error(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = _create_temp_file(path)
    try:
        with _as_write_error(path):
            text = {"encoding": "utf-8", "newline": ""} if mode != "wb" else {}
            try:
                f = os.fdopen(fd, mode, **text)
            except BaseException:
                os.close(fd)
                raise
            with f:
                yield f
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
    except BaseException:
        _remove_quietly(tmp)
        raise
    _fsync(path.parent)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Replace `path` with `data` atomically (parents are created)."""
    with atomic_writer(path, "wb") as f:
        f.write(data)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Replace `path` with `text` (UTF-8, newlines written as given) atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    """Replace `path` with `obj` as JSON (sorted keys, indent 2, trailing newline) atomically."""
    # Serialise first, so a non-serialisable object fails before anything touches the disk.
    atomic_write_text(path, json.dumps(obj, sort_keys=True, indent=2, ensure_ascii=False) + "\n")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary sibling path for a writer that opens the file itself (a library's `write(path)`); when the
    `with` exits normally the file is fsynced and renamed over `path`, on failure it is removed."""
    path = Path(path)
    _check_target(path)
    with _as_write_error(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = _sibling_name(path, "tmp")
    try:
        with _as_write_error(path):
            yield tmp
            _fsync(tmp)
            os.replace(tmp, path)
    except BaseException:
        _remove_quietly(tmp)
        raise
    _fsync(path.parent)


@contextlib.contextmanager
def atomic_directory(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a fresh temporary sibling directory; when the `with` exits normally it replaces `path` (the old
    directory, if any, is renamed aside, the new one renamed in, then the old one removed). On failure the temporary
    is removed and the old directory stays as it was.

    The swap is two renames, so for an instant `path` is absent; a crash in that instant leaves the old directory
    at `.NAME.<hex>.old` next to it (never a half-written `path`)."""
    path = Path(path)
    _check_target(path)
    with _as_write_error(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = _sibling_name(path, "tmp")
        os.mkdir(tmp, 0o777)  # the umask applies, unlike tempfile.mkdtemp's 0700
    try:
        with _as_write_error(path):
            yield tmp
            _fsync_tree(tmp)
            _swap_in(tmp, path)
    except BaseException:
        _remove_quietly(tmp)
        raise
    _fsync(path.parent)


def _swap_in(tmp: Path, path: Path) -> None:
    old = None
    if path.exists() or path.is_symlink():
        if not path.is_dir():
            raise NotADirectoryError(errno_codes.ENOTDIR, f"{path} exists and is not a directory", str(path))
        old = _sibling_name(path, "old")
        os.rename(path, old)
    try:
        os.rename(tmp, path)
    except BaseException:
        if old is not None:
            os.rename(old, path)  # put the previous directory back before reporting the failure
        raise
    if old is not None:
        _remove_quietly(old)
