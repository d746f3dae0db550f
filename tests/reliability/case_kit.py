"""What a bad-input case is (Case) and the sandbox paths the case tables use (cases.py, cases_found.py)."""

from __future__ import annotations

import os
from dataclasses import dataclass

GOOD = "{sb}/runs/good/model.safetensors"
GOOD_GRU = "{sb}/runs/good_gru/model.safetensors"
REPORT = "{sb}/reports"
RB = "{sb}/readback"  # readback_files.py: our own files, edited since lmladder wrote them
CK = "{sb}/ckpt"
C = "{sb}/corpora"
F = "{sb}/frontier"  # frontier_files.py: presets, a planned study, a run on another corpus
ZEROS = "0" * 64
NOT_UTF8 = os.fsdecode(b"\xff")  # how Python hands a non-UTF-8 argv byte to the program ("\udcff")


@dataclass(frozen=True)
class Case:
    id: str
    group: str
    entry: str
    args: tuple[str, ...]
    problem: str  # regex: names the problem
    fix: str  # regex: names the fix
    hydra: bool = False
    fast: bool = False  # also run as a real subprocess in the fast suite (a mechanism a real process adds)
    sweep: bool = False  # a sweep: its jobs' error lines precede the case's message
    stdin: str | None = None  # a file ("{sb}/...") given as standard input
    env: tuple[tuple[str, str], ...] = ()  # environment variables set for the command (NAME, value)


def case(id, group, entry, args, problem, fix, **kw) -> Case:
    if "env" in kw:
        kw["env"] = tuple(kw["env"].items())
    return Case(id, group, entry, tuple(args), problem, fix, **kw)
