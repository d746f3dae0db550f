"""Atomic writes: content lands whole or not at all, failures keep the old content and leave no temporaries."""

import errno
import json
import os

import pytest

from lmladder.io import (
    WriteError,
    atomic_directory,
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
    atomic_writer,
)
from lmladder.io import atomic as atomic_mod

IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


def _entries(directory):
    return sorted(p.name for p in directory.iterdir())


def _raise(code):
    def fail(*args, **kwargs):
        raise OSError(code, os.strerror(code))

    return fail


class _FullDisk:
    """Wraps a real file; write() writes a few bytes, then fails like a full disk (a partial write)."""

    def __init__(self, f):
        self._f = f

    def write(self, data):
        self._f.write(data[:3])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def __getattr__(self, name):
        return getattr(self._f, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._f.close()


@pytest.fixture
def full_disk(monkeypatch):
    real = os.fdopen
    monkeypatch.setattr(atomic_mod.os, "fdopen", lambda *a, **k: _FullDisk(real(*a, **k)))


# ------------------------------------------------------------------------------------------------ happy paths
def test_write_bytes_text_json(tmp_path):
    atomic_write_bytes(tmp_path / "a.bin", b"\x00\x01\xff")
    atomic_write_text(tmp_path / "b.txt", "héllo\r\nworld\n")
    atomic_write_json(tmp_path / "c.json", {"b": 1, "a": [1, 2], "z": "é"})
    assert (tmp_path / "a.bin").read_bytes() == b"\x00\x01\xff"
    assert (tmp_path / "b.txt").read_bytes() == "héllo\r\nworld\n".encode()  # no newline translation
    text = (tmp_path / "c.json").read_text(encoding="utf-8")
    assert text == '{\n  "a": [\n    1,\n    2\n  ],\n  "b": 1,\n  "z": "é"\n}\n'
    assert json.loads(text) == {"a": [1, 2], "b": 1, "z": "é"}
    assert _entries(tmp_path) == ["a.bin", "b.txt", "c.json"]


def test_overwrites_and_creates_parents(tmp_path):
    target = tmp_path / "deep" / "er" / "f.txt"
    atomic_write_text(target, "old")
    atomic_write_text(target, "new")
    assert target.read_text() == "new"
    assert _entries(target.parent) == ["f.txt"]


def test_new_file_gets_umask_mode_not_0600(tmp_path):
    umask = os.umask(0o022)
    try:
        atomic_write_bytes(tmp_path / "f", b"x")
    finally:
        os.umask(umask)
    assert (tmp_path / "f").stat().st_mode & 0o777 == 0o644


def test_writer_streams_bytes_and_text(tmp_path):
    with atomic_writer(tmp_path / "s.bin") as f:
        for i in range(3):
            f.write(bytes([i]) * 4)
        assert not (tmp_path / "s.bin").exists()  # nothing visible until the block ends
    assert (tmp_path / "s.bin").read_bytes() == b"\x00" * 4 + b"\x01" * 4 + b"\x02" * 4
    with atomic_writer(tmp_path / "s.txt", "w") as f:
        f.write("a\nb")
    assert (tmp_path / "s.txt").read_bytes() == b"a\nb"
    with pytest.raises(ValueError, match="mode 'ab'"):
        with atomic_writer(tmp_path / "x", "ab"):
            pass


def test_non_serialisable_json_touches_nothing(tmp_path):
    target = tmp_path / "c.json"
    atomic_write_json(target, {"ok": 1})
    with pytest.raises(TypeError):
        atomic_write_json(target, {"bad": object()})
    assert json.loads(target.read_text()) == {"ok": 1}
    assert _entries(tmp_path) == ["c.json"]


def test_exception_in_writer_block_keeps_old_file(tmp_path):
    target = tmp_path / "f.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="boom"):
        with atomic_writer(target) as f:
            f.write(b"half of the new content")
            raise RuntimeError("boom")
    assert target.read_bytes() == b"old"
    assert _entries(tmp_path) == ["f.bin"]


# ------------------------------------------------------------------------------------------------ OS failures
def test_disk_full_during_write_keeps_old_file(tmp_path, full_disk):
    target = tmp_path / "f.bin"
    target.write_bytes(b"old content")
    with pytest.raises(WriteError) as info:
        atomic_write_bytes(target, b"new content that does not fit")
    msg = str(info.value)
    assert "\n" not in msg and str(target) in msg and "No space left" in msg and "free disk space" in msg
    assert info.value.errno == errno.ENOSPC and isinstance(info.value, OSError)
    assert target.read_bytes() == b"old content"
    assert _entries(tmp_path) == ["f.bin"]


@pytest.mark.parametrize(
    "where,code,fix",
    [
        ("fsync", errno.ENOSPC, "free disk space"),  # delayed allocation: ENOSPC often surfaces at fsync
        ("replace", errno.EACCES, "check permissions of"),
        ("replace", errno.EPERM, "check permissions of"),
        ("replace", errno.EROFS, "read-only file system"),
        ("open", errno.EACCES, "check permissions of"),
    ],
)
def test_simulated_os_errors_keep_old_file(tmp_path, monkeypatch, where, code, fix):
    target = tmp_path / "f.json"
    atomic_write_json(target, {"v": "old"})
    monkeypatch.setattr(atomic_mod.os, where, _raise(code))
    with pytest.raises(WriteError) as info:
        atomic_write_json(target, {"v": "new"})
    msg = str(info.value)
    assert "\n" not in msg and str(target) in msg and os.strerror(code) in msg and fix in msg
    assert info.value.errno == code
    monkeypatch.undo()
    assert json.loads(target.read_text()) == {"v": "old"}
    assert _entries(tmp_path) == ["f.json"]


@pytest.mark.skipif(IS_ROOT or os.name != "posix", reason="root ignores directory permissions (simulated above)")
def test_read_only_directory_real_permissions(tmp_path):
    target = tmp_path / "ro" / "f.txt"
    atomic_write_text(target, "old")
    target.parent.chmod(0o500)
    try:
        with pytest.raises(WriteError, match=r"check permissions of .*ro"):
            atomic_write_text(target, "new")
    finally:
        target.parent.chmod(0o700)
    assert target.read_text() == "old"
    assert _entries(target.parent) == ["f.txt"]


def test_parent_is_a_file(tmp_path):
    (tmp_path / "blocker").write_text("x")
    with pytest.raises(WriteError, match="a file is in the way"):
        atomic_write_text(tmp_path / "blocker" / "f.txt", "new")


def test_target_is_a_directory(tmp_path):
    (tmp_path / "d").mkdir()
    with pytest.raises(WriteError, match="is a directory; choose a file path"):
        atomic_write_text(tmp_path / "d", "new")
    assert _entries(tmp_path) == ["d"]


def _specials(tmp_path):
    """A FIFO, and (as root, who alone may make one) a character device like /dev/null, made in tmp_path."""
    os.mkfifo(tmp_path / "fifo")
    out = [("fifo", "a FIFO \\(named pipe\\)")]
    if IS_ROOT:
        os.mknod(tmp_path / "null", 0o666 | 0o020000, os.makedev(1, 3))  # S_IFCHR: /dev/null's numbers
        out.append(("null", "a character device"))
    return out


@pytest.mark.parametrize("write", ["file", "path", "folder"])
def test_a_device_or_fifo_is_never_renamed_over(tmp_path, write):
    """`lmladder evaluate --units /dev/null` as root replaced /dev/null with a file: the rename would."""
    specials = _specials(tmp_path)
    for name, kind in specials:
        target = tmp_path / name
        with pytest.raises(WriteError, match=rf"cannot write .*{name}: it is {kind}, which renaming .*; give the path"):
            if write == "file":
                atomic_write_text(target, "new")
            else:
                with (atomic_mod.atomic_path if write == "path" else atomic_directory)(target):
                    pass
        assert not target.is_file() and not target.is_dir()
    assert _entries(tmp_path) == sorted(name for name, _ in specials)  # no temporary left beside them


# ------------------------------------------------------------------------------------------------ directories
def _fill(directory, files):
    for name, text in files.items():
        (directory / name).write_text(text)


def _read(directory):
    return {p.name: p.read_text() for p in sorted(directory.iterdir())}


def test_directory_created_and_replaced(tmp_path):
    target = tmp_path / "run"
    with atomic_directory(target) as tmp:
        assert tmp.parent == tmp_path and tmp != target and not target.exists()
        _fill(tmp, {"a.txt": "1", "b.txt": "2"})
    assert _read(target) == {"a.txt": "1", "b.txt": "2"}
    with atomic_directory(target) as tmp:
        _fill(tmp, {"c.txt": "3"})
        assert _read(target) == {"a.txt": "1", "b.txt": "2"}  # the old one stays visible while writing
    assert _read(target) == {"c.txt": "3"}
    assert _entries(tmp_path) == ["run"]


def test_directory_failure_in_block_keeps_old(tmp_path):
    target = tmp_path / "run"
    with atomic_directory(target) as tmp:
        _fill(tmp, {"a.txt": "old"})
    with pytest.raises(RuntimeError, match="boom"):
        with atomic_directory(target) as tmp:
            _fill(tmp, {"a.txt": "new", "b.txt": "half"})
            raise RuntimeError("boom")
    assert _read(target) == {"a.txt": "old"}
    assert _entries(tmp_path) == ["run"]


def test_directory_disk_full_in_block_is_a_write_error(tmp_path):
    target = tmp_path / "run"
    with pytest.raises(WriteError, match="free disk space"):
        with atomic_directory(target):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    assert _entries(tmp_path) == []


def test_directory_rename_failure_restores_old(tmp_path, monkeypatch):
    target = tmp_path / "run"
    with atomic_directory(target) as tmp:
        _fill(tmp, {"a.txt": "old"})
    real_rename, calls = os.rename, []

    def flaky_rename(src, dst):
        calls.append((src, dst))
        if len(calls) == 2:  # old aside succeeded; the new one cannot be moved in
            raise OSError(errno.EACCES, os.strerror(errno.EACCES))
        real_rename(src, dst)

    monkeypatch.setattr(atomic_mod.os, "rename", flaky_rename)
    with pytest.raises(WriteError, match="check permissions of"):
        with atomic_directory(target) as tmp:
            _fill(tmp, {"a.txt": "new"})
    assert len(calls) == 3  # aside, (failed) in, back
    assert _read(target) == {"a.txt": "old"}
    assert _entries(tmp_path) == ["run"]


def test_directory_target_is_a_file(tmp_path):
    (tmp_path / "run").write_text("x")
    with pytest.raises(WriteError, match="not a directory"):
        with atomic_directory(tmp_path / "run") as tmp:
            _fill(tmp, {"a.txt": "1"})
    assert (tmp_path / "run").read_text() == "x"
    assert _entries(tmp_path) == ["run"]
