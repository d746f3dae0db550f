"""User files: only regular files are opened; anything else is named for what it is (a FIFO is never opened)."""

import os
import re

import pytest

from lmladder.errors import LmladderError
from lmladder.io import checkpoint_path, path_kind, read_user_file


class Refused(LmladderError, ValueError):
    pass


@pytest.fixture
def paths(tmp_path):
    (tmp_path / "file.txt").write_text("hello")
    (tmp_path / "folder").mkdir()
    os.mkfifo(tmp_path / "fifo")
    os.symlink(tmp_path / "loop_b", tmp_path / "loop_a")
    os.symlink(tmp_path / "loop_a", tmp_path / "loop_b")
    os.symlink(tmp_path / "file.txt", tmp_path / "link.txt")
    return tmp_path


@pytest.mark.parametrize(
    "name, kind",
    [
        ("file.txt", "file"),
        ("link.txt", "file"),  # symlinks are followed
        ("nope.txt", "missing"),
        ("file.txt/below", "missing"),
        ("folder", "a directory"),
        ("fifo", "a FIFO (named pipe)"),
        ("loop_a", "a symlink loop"),
        ("/dev/zero", "a character device"),
    ],
)
def test_path_kind(paths, name, kind):
    assert path_kind(paths / name) == kind


def test_read_user_file_reads_regular_files_and_names_everything_else(paths):
    assert read_user_file(paths / "link.txt", what="x", fix="fix it", error=Refused) == b"hello"
    with pytest.raises(Refused, match=r"^--text .*fifo is a FIFO \(named pipe\), not a regular file; give a file$"):
        read_user_file(paths / "fifo", what=f"--text {paths / 'fifo'}", fix="give a file", error=Refused)
    with pytest.raises(Refused, match=r"^/dev/zero is a character device, not a regular file; give a file$"):
        read_user_file("/dev/zero", what="/dev/zero", fix="give a file", error=Refused)
    with pytest.raises(Refused, match=r"^t: no such file; give a file$"):
        read_user_file(paths / "nope", what="t", fix="give a file", error=Refused)
    with pytest.raises(Refused, match=r"^gone$"):
        read_user_file(paths / "nope", what="t", fix="give a file", error=Refused, missing="gone")


def test_checkpoint_path_takes_a_run_folder_or_a_checkpoint_file_and_names_anything_else(paths):
    run = paths / "run"
    run.mkdir()
    (run / "model.safetensors").write_bytes(b"")
    assert checkpoint_path(run, error=Refused) == run / "model.safetensors"
    assert checkpoint_path(str(paths / "link.txt"), error=Refused) == paths / "link.txt"  # the loader checks it
    fix = r"; give a run folder \(outputs/<rung>/seed<N>\) or a model.safetensors$"
    for name, said in [("folder", " holds no model.safetensors"), ("nope", ": no such file or folder"),
                       ("fifo", r": is a FIFO \(named pipe\)")]:  # fmt: skip
        with pytest.raises(Refused, match="^" + re.escape(str(paths / name)) + said + fix):
            checkpoint_path(paths / name, error=Refused)
