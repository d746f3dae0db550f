"""The `lmladder` command put together: every command's parser, and the run that says a user's error in one line.

Each command is a module of this package with its parser (`add_parser`) and its body (`cmd_*`) side by side; a new
command is its module and one line in COMMANDS."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from ..errors import LmladderError
from ..stdout import guard_stdout, guarded_stdout
from . import compare, diff, evaluate, export, frontier, inspect, report, sample
from .common import CliError

COMMANDS = (sample, evaluate, inspect, export, report, compare, diff, frontier)  # in `lmladder --help`'s order


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="lmladder", description="Sample from, score and compare lmladder models.")
    sub = p.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.add_parser(sub)
    return p


def run(argv: Sequence[str] | None = None) -> int:
    with guarded_stdout("lmladder"):  # --help is printed to stdout too
        args = build_parser().parse_args(argv)
        guard_stdout(f"lmladder {args.command}")
        try:
            if getattr(args, "seed", 0) < 0:  # NumPy's generators take no negative seed (a traceback, deep inside)
                raise CliError(f"--seed {args.seed} must be >= 0")
            return args.func(args)
        except (LmladderError, KeyboardInterrupt) as e:
            if os.environ.get("LMLADDER_DEBUG"):
                raise
            if isinstance(e, LmladderError):
                print(f"lmladder {args.command}: error: {e}", file=sys.stderr)
                return 2
            print(f"lmladder {args.command}: interrupted {e}".rstrip(), file=sys.stderr)
            return 130  # 128 + SIGINT, as a shell reports a process Ctrl-C stopped
