"""Environment variables that lmladder's libraries read as they are imported, checked before any of them is.

numba reads NUMBA_NUM_THREADS when it is imported (lmladder's data and speed-wing modules import it), and
NUMBA_NUM_THREADS=0 ended every command at start-up with numba's traceback; lmladder reads OMP_NUM_THREADS with
int(). The package's __init__ runs `check_at_import()` first, so a bad value is one line naming it and the fix,
exit 2, for every command and stage (LMLADDER_DEBUG=1: an exception instead). The variables lmladder owns
(LMLADDER_KERNELS, LMLADDER_GEMM, LMLADDER_MEMORY_LIMIT) are checked where they are used.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

# variable -> what it sets, in words; each takes a whole number >= 1
THREAD_COUNTS = {
    "NUMBA_NUM_THREADS": "the threads numba's kernels may use",
    "OMP_NUM_THREADS": "the threads lmladder's kernels and OpenMP use",
}


class EnvironmentSettingError(ValueError):
    """An environment variable lmladder or a library it imports cannot take (raised only with LMLADDER_DEBUG=1: this
    module stands below errors.py, on the bottom floor, so that the package can run it first)."""


def problem(environ=os.environ) -> str | None:
    """The first bad variable of THREAD_COUNTS as "NAME='value' must ...; fix", or None."""
    for name, what in THREAD_COUNTS.items():
        value = environ.get(name)
        if value is None or value.strip().isdigit() and int(value) >= 1:
            continue
        return f"{name}={value!r} must be a whole number >= 1 ({what}); set it to e.g. 2, or unset it"
    return None


def command_name(argv: list[str]) -> str:
    """What a message calls the command: `sample` for `lmladder sample`, the stage (or a train.py run's rung)."""
    stem = Path(argv[0]).stem if argv else ""
    if stem in ("", "-m", "-c", "lmladder", "__main__"):
        return next((a for a in argv[1:] if not a.startswith("-")), "lmladder")
    if stem == "train":
        return next((a.split("=", 1)[1] for a in reversed(argv) if a.startswith("rung=")), stem)
    return stem


def check_at_import() -> None:
    if (message := problem()) is None:
        return
    if os.environ.get("LMLADDER_DEBUG"):
        raise EnvironmentSettingError(message)
    print(f"lmladder {command_name(sys.argv)}: error: {message}", file=sys.stderr, flush=True)
    raise SystemExit(2)
