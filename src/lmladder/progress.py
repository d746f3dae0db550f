"""The training progress bar, drawn by tqdm: live on a terminal, a sparse line every few seconds in a log."""

from __future__ import annotations

import sys

from tqdm import tqdm


class _Lines:
    """tqdm redraws its line in place ('\\r' + bar + padding); a log (DVC, CI, a file) would keep all of it as one
    endless line, so each redraw becomes a line of its own."""

    def __init__(self, stream):
        self.stream = stream

    def write(self, s: str) -> None:
        if text := s.strip("\r\n "):  # tqdm also writes '' (a probe) and a closing '\n'
            self.stream.write(text + "\n")

    def flush(self) -> None:
        self.stream.flush()


def progress_bar(total: int, start: int = 0, enabled: bool = True, unit: str = "step") -> tqdm:
    """A bar over the `unit`s up to `total`, resumed at `start` (so rate and ETA count this run's steps only)."""
    tty = sys.stderr.isatty()
    return tqdm(
        total=total,
        initial=start,
        unit=unit,
        unit_scale=unit != "step",  # 1.2M tok, but step 1500
        disable=not enabled,
        file=sys.stderr if tty else _Lines(sys.stderr),
        dynamic_ncols=tty,  # off in a log: there the terminal width means nothing and would cut the line short
        mininterval=0.1 if tty else 5.0,  # at most ~10 redraws a second live; in a log a line every 5 s, not per step
    )
