"""`lmladder report` and `lmladder compare` (sweeps and experiment comparison)."""

from __future__ import annotations

import argparse


def add_report_commands(sub: argparse._SubParsersAction) -> None:
    """Registered by cli.build_parser; filled in with the sweep-report feature."""
