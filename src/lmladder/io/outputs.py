"""Output folders: a command that writes a folder (inspect, diff, report, compare, frontier fit, export --to hf)
replaces only its own earlier output, and writes it atomically.

Its own earlier output is recognised by the marker it leaves in it, `.lmladder-output.json`: which command wrote the
folder and what it put there. Anything else that is not an empty folder (a run, a study, a folder of documents, the
current folder or one above it, another command's output, an earlier output a user has since added files to) is
refused before any work, in one line naming the fix, with or without --force: `--out RUN` once deleted the run's
checkpoint and `--out $PWD --force` emptied the current folder. A command with a --force option replaces its own
earlier output only with it; one without replaces it freely (a second `lmladder inspect RUN` redraws RUN/inspect).

The folder is built in a temporary sibling and swapped in whole (atomic_directory), so a failure or a kill leaves
the old one as it was; the check runs again just before the swap, in case the folder changed during the work.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from ..errors import LmladderError
from .atomic import atomic_directory, remove_stale_temps
from .files import path_kind

MARKER = ".lmladder-output.json"
TELLING = ("model.safetensors", "plan.json", "metrics.json", "status.json")  # a run's or a study's, named first


class OutputError(LmladderError, ValueError):
    """An output folder that a command may not write over; the message names it and the fix."""


def check_output_folder(
    out: str | os.PathLike,
    *,
    writer: str,
    force: bool | None = None,
    option: str = "--out",
    inputs: Iterable[str | os.PathLike] = (),
    earlier: Callable[[Path], str | None] | None = None,
    error: type[LmladderError] = OutputError,
) -> None:
    """Raise `error` unless `lmladder <writer>` may write the folder `out`: a new path, an empty folder, or its own
    earlier output (with force=True for a command that has --force, force=None for one that has not). `inputs`: the
    paths the command reads, which `out` must not be nor hold. `option`: how the user gave `out` ("" for a
    positional argument), for the message. `earlier(out)`: for a writer whose earlier outputs
    carry no marker (exports made before markers), None if `out` is one, else what it holds instead."""
    out = Path(out)
    name, fix = (f"{option} {out}", f"give a new folder ({option} NEW_FOLDER)") if option else (out, "give a new path")
    if _holds_cwd(out):
        raise error(f"{name} is the current folder or one above it, which no command replaces; {fix}")
    for src in inputs:
        if _within(Path(src), out):
            raise error(f"{name} holds {src}, which `lmladder {writer}` reads; {fix}")
    if out.is_symlink():
        raise error(f"{name} is a symbolic link; {fix}, or give the folder it points to")
    kind = path_kind(out)
    if kind == "missing":
        return
    if kind != "a directory":
        what = "a file" if kind == "file" else kind
        raise error(f"{name} is {what}, but `lmladder {writer}` writes a folder; {fix}")
    instead = _not_ours(out, writer, earlier)
    if instead == "":  # empty: no one's work
        return
    if instead is not None:
        raise error(
            f"{name} is not an earlier `lmladder {writer}` output ({instead}), the only folder it replaces (with or "
            f"without --force); {fix}, or move what it holds away"
        )
    if force is False:
        raise error(f"{name} holds an earlier `lmladder {writer}` output; pass --force to replace it, or {fix}")


@contextlib.contextmanager
def output_folder(out: str | os.PathLike, *, writer: str, **check) -> Iterator[Path]:
    """Yield an empty temporary folder for the output of `lmladder <writer>`; when the `with` body ends normally, the
    folder is checked again (check_output_folder, with `check`), given its marker and swapped in for `out`. The
    body may replace the yielded folder whole itself (a library writer's own atomic_directory): the marker is
    written after it. On an error, or a refusal, `out` is left as it was."""
    out = Path(out)
    check_output_folder(out, writer=writer, **check)
    remove_stale_temps(out.parent, of=out.name)  # what a killed writer of this path left behind
    with atomic_directory(out) as tmp:
        yield tmp
        check_output_folder(out, writer=writer, **check)
        entries = sorted(p.name for p in tmp.iterdir())
        marker = {"writer": f"lmladder {writer}", "entries": entries}
        (tmp / MARKER).write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")


def _not_ours(out: Path, writer: str, earlier: Callable[[Path], str | None] | None) -> str | None:
    """None when `out` is the writer's own earlier output, "" when it is empty, else what it holds, in words."""
    try:
        names = sorted(p.name for p in out.iterdir())
    except OSError as e:
        return f"it cannot be listed: {e.strerror or e}"
    if not names:
        return ""
    if MARKER not in names:
        if earlier is not None:
            return earlier(out)
        rank = {n: i for i, n in enumerate(TELLING)}
        names.sort(key=lambda n: (rank.get(n, len(rank)), n.startswith("."), n))  # what the folder is, first
        shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
        return f"it holds {shown}"
    marker = _read_marker(out / MARKER)
    if marker is None:
        return f"its {MARKER} is not one lmladder wrote"
    theirs, entries = marker
    if theirs != f"lmladder {writer}":
        return f"it is the output of `{theirs}`"
    added = [n for n in names if n != MARKER and n not in entries]
    if added:
        return f"{', '.join(added[:3])}{' and more' if len(added) > 3 else ''} added since"
    return None


def _read_marker(path: Path) -> tuple[str, set[str]] | None:
    """(writer, entries) from a marker, or None for one that is not a marker (edited, cut short, not a file)."""
    if path_kind(path) != "file":
        return None
    try:
        with open(path, "rb") as f:
            data = json.loads(f.read(1 << 20).decode("utf-8"))  # a marker is small: a bigger file is none
    except (OSError, ValueError):
        return None
    writer, entries = (data.get("writer"), data.get("entries")) if isinstance(data, dict) else (None, None)
    if not (isinstance(writer, str) and isinstance(entries, list) and all(isinstance(e, str) for e in entries)):
        return None
    return writer, set(entries)


def _holds_cwd(out: Path) -> bool:
    """Whether `out` is the current folder or one above it (., .., /, an empty path, $PWD)."""
    if out.name in ("", ".."):
        return True
    try:
        return _within(Path.cwd(), out)
    except OSError:  # the current folder was deleted: nothing of it to protect
        return False


def _within(path: Path, folder: Path) -> bool:
    """Whether `path` is `folder` or lies inside it (symbolic links followed)."""
    try:
        p, f = path.resolve(), folder.resolve()
    except (OSError, RuntimeError):  # a symlink loop: no folder that holds anything
        return False
    return p == f or f in p.parents
