"""The machine's resources as this process may use them, on every OS: its CPU's name, its usable cores, and how much
memory it may still use, with the one check every large request goes through before it allocates: a batch of 10
million rows or a million-token context is refused with its estimate, not run until the machine swaps or the kernel
kills it.

Available = the smallest of: the OS's available memory (psutil: free memory plus what the OS can reclaim; Linux's
MemAvailable, macOS's and Windows' own counters), the cgroup v2 limit minus its usage where there is one (a Linux
container's memory.max), and LMLADDER_MEMORY_LIMIT (a cap a user sets on a shared machine: whole bytes, or a size
with a unit of K, M, G or T, powers of 1024: 512M, 0.5G, 8 GB; parse_bytes). Where none can be read, nothing is
refused.
"""

from __future__ import annotations

import math
import os
import platform
import re
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import psutil

from .environment import omp_threads
from .errors import LmladderError

ENV = "LMLADDER_MEMORY_LIMIT"
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


class MemoryBudgetError(LmladderError, MemoryError):
    """A request would need more memory than is available; the message gives the estimate and the fix."""


def fmt_bytes(n: float) -> str:
    """1536 -> '1.5 KiB'."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def parse_bytes(text: str) -> int:
    """A size as LMLADDER_MEMORY_LIMIT gives it: a whole number of bytes (1e9 too), or a number with a unit of K, M,
    G or T, powers of 1024 with or without B or iB, spaces allowed (0.5G, 512MB, 1 TB, 8GiB); whole bytes, rounded
    down, and at least one."""
    m = re.fullmatch(r"\s*((?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:e[+-]?[0-9]{1,2})?)\s*(?:([kmgt])i?b?|b?)\s*", text.lower())
    if not m or len(text) > 64:  # a few digits' exponent and length: 10**(10**9) would take the machine's memory
        raise MemoryBudgetError(f"{ENV}={text!r} is not a size; give bytes or e.g. 512M, 8G (or unset it)")
    size = Fraction(m.group(1)) * _UNITS[m.group(2) or ""]  # exact: 0.1G is 107374182.4 bytes, not a float's
    if not m.group(2) and size.denominator != 1:
        raise MemoryBudgetError(
            f"{ENV}={text!r} has a fraction of a byte (a number without a unit is bytes); give whole bytes, or a "
            "unit: e.g. 0.5G is 512 MiB"
        )
    if size < 1:
        raise MemoryBudgetError(f"{ENV}={text!r} leaves no memory at all; give a size such as 8G (or unset it)")
    return int(size)


def threads_asked() -> int | None:
    """The threads OMP_NUM_THREADS asks for, read as OpenMP reads it (the outermost level of "4,2"); None if unset."""
    return omp_threads(os.environ.get("OMP_NUM_THREADS"))


def cpu_model() -> str:
    """The CPU's name where each OS keeps it: Linux's /proc/cpuinfo with the family and model numbers (a VM's plain
    "AMD EPYC" is vague: family 25 model 17 is Zen 4), macOS's sysctl, Windows' registry; else platform's coarser
    name. It says which machine a GEMM peak (training.mfu) or a frontier plan's tokens/s were measured on."""
    try:
        if sys.platform.startswith("linux"):
            with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
                first = f.read().split("\n\n")[0]  # the first core's block
            info = {k.strip(): v.strip() for k, v in (line.split(":", 1) for line in first.splitlines() if ":" in line)}
            if "model name" in info:  # x86; an ARM board's cpuinfo has no name
                return f"{info['model name']} (family {info.get('cpu family', '?')} model {info.get('model', '?')})"
        elif sys.platform == "darwin":
            brand = ["sysctl", "-n", "machdep.cpu.brand_string"]
            return subprocess.run(brand, capture_output=True, text=True, timeout=5).stdout.strip() or _coarse_cpu()
        elif sys.platform == "win32":
            import winreg

            with winreg.OpenKey(winreg.HKEY_LOCAL_MACHINE, r"HARDWARE\DESCRIPTION\System\CentralProcessor\0") as k:
                return str(winreg.QueryValueEx(k, "ProcessorNameString")[0]).strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return _coarse_cpu()  # another OS, or where the OS's own record failed


def _coarse_cpu() -> str:
    return platform.processor() or platform.machine() or "unknown"


def usable_cores() -> int:
    """The cores this process may run on: its CPU affinity where the OS has one (Linux, Windows), else all (macOS)."""
    try:
        return len(psutil.Process().cpu_affinity()) or 1
    except (AttributeError, psutil.Error, OSError):  # macOS has no affinity
        return os.cpu_count() or 1


def _os_available() -> float:
    try:
        return float(psutil.virtual_memory().available)
    except (psutil.Error, OSError, RuntimeError):
        return math.inf


def _cgroup_available() -> float:
    """A Linux container's limit minus its usage; elsewhere (no such files) no bound."""
    try:
        root = Path("/sys/fs/cgroup")
        limit = (root / "memory.max").read_text(encoding="ascii").strip()
        if limit == "max":
            return math.inf
        return int(limit) - int((root / "memory.current").read_text(encoding="ascii"))
    except (OSError, ValueError):
        return math.inf


def _available() -> tuple[float, str | None]:
    """(bytes this process may still allocate, LMLADDER_MEMORY_LIMIT's value when it is what binds, else None),
    read once so that a message's number and its words agree."""
    cap = os.environ.get(ENV)
    limit = parse_bytes(cap) if cap else math.inf
    have = min(_os_available(), _cgroup_available(), limit)
    return have, cap if cap and have == limit else None


def _said(have: float, cap: str | None) -> str:
    """ "1.0 GiB is available", naming LMLADDER_MEMORY_LIMIT when it binds (a user may raise it)."""
    return f"{fmt_bytes(have)} is available" + (f" under {ENV}={cap}" if cap else "")


def available_bytes() -> float:
    """Bytes this process may still allocate (math.inf where nothing says)."""
    return _available()[0]


# Memory to read, decode and tokenize one byte of text, measured ~26 bytes for characters (the bytes, the str,
# int64 ids, the scoring plan); BPE's regex chunks cost more: this bound leaves room for both.
TEXT_COST = 64


def text_limit(use: str, name: str) -> tuple[float, str]:
    """(the most bytes of text that fit, the reason and fix for read_user_file's too_big) for `use` ("scoring")."""
    have, cap = _available()
    why = (
        f"the most that fits in memory ({use} takes about {TEXT_COST} bytes per byte of text, and "
        f"{_said(have, cap)}); use a part of it, e.g. head -c 100M {name} > part.txt"
    )
    return have / TEXT_COST, why


def check_fits(need: float, what: str, fix: str) -> None:
    """Raise MemoryBudgetError("{what} needs about X of memory, but Y is available; {fix}") when need > available;
    when LMLADDER_MEMORY_LIMIT is the limit, the message names it."""
    have, cap = _available()
    if need > have:
        more = f" (or raise {ENV})" if cap else ""
        raise MemoryBudgetError(f"{what} needs about {fmt_bytes(need)} of memory, but {_said(have, cap)}; {fix}{more}")
