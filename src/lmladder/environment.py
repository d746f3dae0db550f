"""Environment variables that lmladder's libraries read as they are imported, checked before any of them is.

numba reads NUMBA_NUM_THREADS when it is imported (lmladder's data and fast modules import it), and
NUMBA_NUM_THREADS=0 ended every command at start-up with numba's traceback; OMP_NUM_THREADS is taken as OpenMP
takes it (omp_threads). A package every command imports (NEEDED) that is missing is said the same way. The
package's __init__ runs `check_at_import()` first, so a bad value is one line naming it and the fix, exit 2, for
every command and stage (LMLADDER_DEBUG=1: an exception instead). The variables lmladder owns
(LMLADDER_KERNELS, LMLADDER_GEMM, LMLADDER_MEMORY_LIMIT) are checked where they are used.
"""

from __future__ import annotations

import importlib.util
import os
import re
import sys
from pathlib import Path

# variable -> what it sets, in words; each takes a whole number >= 1
THREAD_COUNTS = {
    "NUMBA_NUM_THREADS": "the threads numba's kernels may use",
    "OMP_NUM_THREADS": "the threads lmladder's kernels and OpenMP use",
}
# OpenMP's own syntax (libgomp, LLVM's libomp): a whole number >= 1 per nesting level, commas between, spaces around
_OMP_LIST = re.compile(r"[ \t\n\v\f\r]*\+?[0-9]+[ \t\n\v\f\r]*(?:,[ \t\n\v\f\r]*\+?[0-9]+[ \t\n\v\f\r]*)*")
_LONG_MAX = 2**63 - 1  # libgomp reads each count as a C long
# packages imported on the bottom floors by every command: without one, each would end in an ImportError traceback
NEEDED = {"psutil": "the cores and memory lmladder may use"}


class EnvironmentSettingError(ValueError):
    """An environment variable lmladder or a library it imports cannot take (raised only with LMLADDER_DEBUG=1: this
    module stands below errors.py, on the bottom floor, so that the package can run it first)."""


def omp_threads(value: str | None) -> int | None:
    """The outermost level's thread count of an OMP_NUM_THREADS value, read as OpenMP reads it ("4,2": 4 threads,
    each of whose nested regions gets 2); None when it is unset or blank (OpenMP's default) or a value OpenMP
    refuses (0, "two", a Unicode digit, a count beyond a C long)."""
    if value is None or not _OMP_LIST.fullmatch(value):
        return None
    counts = [int(v) for v in value.split(",")]
    return counts[0] if all(1 <= c <= _LONG_MAX for c in counts) else None


def problem(environ=os.environ) -> str | None:
    """The first bad variable of THREAD_COUNTS as "NAME='value' must ...; fix", or a package of NEEDED that is not
    installed, or None. A blank variable is as good as unset (a shell's `OMP_NUM_THREADS= cmd`)."""
    for name, what in THREAD_COUNTS.items():
        value = environ.get(name)
        if value is None or not value.strip():
            continue
        if name == "OMP_NUM_THREADS" and omp_threads(value) is not None:
            continue
        if name != "OMP_NUM_THREADS" and value.strip().isdecimal() and int(value) >= 1:  # numba reads it with int()
            continue
        nested = ", or one per nesting level, e.g. 4,2" if name == "OMP_NUM_THREADS" else ""
        return f"{name}={value!r} must be a whole number >= 1 ({what}){nested}; set it to e.g. 2, or unset it"
    for name, why in NEEDED.items():
        if importlib.util.find_spec(name) is None:
            return f"the Python package {name} is not installed ({why}); install it: pip install {name}"
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
