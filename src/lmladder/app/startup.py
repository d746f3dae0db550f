"""What a stage script does before Hydra runs: join its MPI ranks, refuse a job folder that cannot be made, and
guard stdout; a problem found here is one line and exit 2 (`refuse`), as a stage body's errors are (policy.py)."""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

from .. import interrupt
from ..config import ConfigError, check_overrides
from ..errors import LmladderError
from ..io import path_kind
from ..stdout import guarded_stdout
from . import world

MULTIRUN = {"-m", "--multirun"}


@contextlib.contextmanager
def entry(name: str) -> Iterator[None]:
    """Around a stage script's whole run: a failed write to stdout ends it in one line (lmladder.stdout), and so does
    a Ctrl-C outside the stage's body (Hydra composing the config, a sweep between two jobs), as one inside it."""
    name = rung_name(name, sys.argv[1:])
    with guarded_stdout(f"lmladder {name}"), interrupt.quietly(f"interrupted; {interrupt.RESUME}", name, _abort):
        yield


def _abort(code: int) -> None:
    world.current().abort(code)  # under mpiexec: every rank, not only this one


def rung_name(name: str, args: list[str]) -> str:
    """The name a stage's errors go by before its config is composed: a rung trains through train.py, so the
    train stage's errors are the rung's given on the command line."""
    if name == "train":
        name = next((a.split("=", 1)[1] for a in reversed(args) if a.startswith("rung=")), name)
    return name


def refuse(name: str, e: LmladderError) -> NoReturn:
    """A problem found before Hydra runs, as one line (exit 2)."""
    if os.environ.get("LMLADDER_DEBUG"):
        raise e
    print(f"lmladder {name}: error: {e}", file=sys.stderr, flush=True)
    sys.exit(2)


def join_world(name: str) -> None:
    """Connect to the MPI ranks this stage was started with (mpiexec/srun), before Hydra makes its job folder:
    ranks other than 0 then write no Hydra output or log, and use rank 0's job folder (stage.Stage)."""
    try:
        w = world.join()
    except LmladderError as e:
        refuse(name, e)
    if w.size > 1 and MULTIRUN & set(sys.argv):
        if w.lead:
            print(
                f"lmladder {name}: error: -m under mpiexec: each of the {w.size} ranks would run the whole "
                "sweep; start one mpiexec per run, or sweep without mpiexec",
                file=sys.stderr,
                flush=True,
            )
        else:
            time.sleep(5)  # rank 0 says it and ends every rank
        w.abort(2)
    if w.rank:  # after the last override: argparse takes one run of them (a flag may come before or after)
        at = max((i + 1 for i, a in enumerate(sys.argv) if "=" in a and not a.startswith("-")), default=len(sys.argv))
        sys.argv[at:at] = ["hydra.output_subdir=null", "hydra/job_logging=disabled", "hydra/hydra_logging=disabled"]


def check_run_dir(name: str, argv: list[str] | None = None) -> None:
    """Hydra makes hydra.run.dir (hydra.sweep.dir with -m) before a stage's code runs, and shows a failure there as a
    traceback; a folder given on the command line that cannot be made is refused here first, in one line."""
    args = sys.argv[1:] if argv is None else argv
    name = rung_name(name, args)
    key = "hydra.sweep.dir" if MULTIRUN & set(args) else "hydra.run.dir"
    value = next((a.split("=", 1)[1] for a in reversed(args) if a.startswith(key + "=")), None)
    if not value:
        return
    path = value.strip("'\"")
    literal = path.split("${")[0]  # up to the first interpolation (${now:...}): the part that may exist already
    start = Path(literal or ".") if literal == path or literal.endswith("/") else Path(literal).parent
    if problem := unmakeable(start):
        refuse(name, ConfigError(f"{key}={value}: {problem}; point {key} at a new or existing folder you can write to"))


def unmakeable(folder: Path) -> str | None:
    """Why `folder` cannot be made into a folder this process can write to, or None (it then exists)."""
    for p in (folder, *folder.parents):  # its nearest existing part says what is in the way
        kind = path_kind(p)
        if kind not in ("missing", "a directory"):
            return f"{p} is {'a regular file' if kind == 'file' else kind}, not a folder"
        if kind == "a directory":
            break
    try:
        folder.mkdir(parents=True, exist_ok=True)  # what Hydra does next
    except OSError as e:
        return f"cannot make {folder} ({e.strerror or e})"
    if not os.access(folder, os.W_OK):
        return f"{folder} is read-only (not writable by this user, or on a read-only file system)"
    return None


def check_renamed(name: str, argv: list[str] | None = None) -> None:
    """A renamed key on the command line (config.RENAMED) is refused here, in one line naming its new key: Hydra
    would only say that it is not in the config."""
    args = sys.argv[1:] if argv is None else argv
    try:
        check_overrides([a for a in args if not a.startswith("-")])
    except ConfigError as e:
        refuse(rung_name(name, args), e)
