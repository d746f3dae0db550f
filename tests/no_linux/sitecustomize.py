"""With this folder on PYTHONPATH, every Python process (and each one it starts: Hydra jobs, spawned workers) runs
without the Linux-only APIs that macOS or Windows lack, so that a new Linux-only call in lmladder fails in
tests/test_portability.py rather than on a user's laptop:

- os.sched_getaffinity (Linux only), os.O_NONBLOCK, os.pread, os.pwrite (missing on Windows; os.statvfs too, but
  it stays: shutil.disk_usage, the portable call, is built on it here);
- the fcntl module (missing on Windows): `import fcntl` raises ImportError in lmladder and in filelock (which then
  locks without it, as on Windows); other libraries that import it only on Linux (DVC) still may;
- /proc and /sys (Linux's): lmladder's own code may not open them; psutil may (it reads them on Linux, asks the
  kernel elsewhere), and so may other libraries, which run on macOS and Windows by their own tests.
"""

import builtins
import errno
import os
import sys
import sysconfig
import warnings

for _name in ("sched_getaffinity", "sched_setaffinity", "O_NONBLOCK", "pread", "pwrite"):
    if hasattr(os, _name):
        delattr(os, _name)
# Windows, which lacks O_NONBLOCK, has no dir_fd functions either, so shutil.rmtree walks by path there (Python 3.13's
# fd walk opens with O_NONBLOCK); shutil may be imported already, and decided at its import
os.supports_dir_fd = set()
if "shutil" in sys.modules:
    sys.modules["shutil"]._use_fd_functions = False
# filelock then takes its PID-marker lock (on Windows it takes LockFileEx's), and warns on import: not a user's case
warnings.filterwarnings("ignore", "only soft file lock is available")

_STDLIB = tuple(os.path.realpath(sysconfig.get_paths()[k]) for k in ("stdlib", "platstdlib"))
_OURS = tuple(os.path.realpath(os.path.join(os.path.dirname(__file__), "..", "..", d)) for d in ("src", "stages"))
_import = builtins.__import__


def _no_fcntl(name, globals=None, locals=None, fromlist=(), level=0):
    if name == "fcntl" and level == 0:
        module, file = (globals or {}).get("__name__", ""), (globals or {}).get("__file__") or ""
        if module.split(".")[0] in ("lmladder", "filelock") or os.path.realpath(file).startswith(_OURS):
            raise ModuleNotFoundError("No module named 'fcntl' (tests/no_linux/sitecustomize.py)", name=name)
    return _import(name, globals, locals, fromlist, level)


builtins.__import__ = _no_fcntl


def _caller_is_ours() -> bool:
    """Whether the nearest caller outside Python's standard library is lmladder's code (src/ or stages/)."""
    frame = sys._getframe(2)
    while frame is not None:
        file = os.path.realpath(frame.f_code.co_filename)
        if not file.startswith(_STDLIB) or "site-packages" in file:
            return file.startswith(_OURS)
        frame = frame.f_back
    return False


def _no_linux_files(event: str, args: tuple) -> None:
    if event == "open" and isinstance(args[0], str | bytes | os.PathLike):
        path = os.fsdecode(args[0])
        if path.startswith(("/proc/", "/sys/")) and _caller_is_ours():
            raise PermissionError(errno.EACCES, "a Linux-only file (tests/no_linux/sitecustomize.py)", path)


sys.addaudithook(_no_linux_files)
