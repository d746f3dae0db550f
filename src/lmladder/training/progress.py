"""A small progress line (step, loss, tokens/s, ETA): redrawn in place on a terminal (at most ~10 times a second),
a line every ~5 s otherwise."""

from __future__ import annotations

import sys
import time


def _fmt_time(s: float) -> str:
    s = int(max(s, 0))
    return f"{s // 3600:d}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60:02d}:{s % 60:02d}"


class Progress:
    def __init__(self, total: int, start: int = 0, stream=None, enabled: bool = True, every_s: float = 5.0):
        self.total, self.start, self.enabled = total, start, enabled
        self.stream = stream or sys.stderr
        self.tty = getattr(self.stream, "isatty", lambda: False)()
        self.t0 = self.last = time.perf_counter()
        self.every_s = 0.1 if self.tty else every_s  # a redraw per step would cost more than a tiny model's step

    def update(self, step: int, **fields) -> None:
        if not self.enabled:
            return
        now = time.perf_counter()
        done = step + 1 - self.start
        if now - self.last < self.every_s and step + 1 < self.total:
            return
        self.last = now
        rate = done / max(now - self.t0, 1e-9)
        eta = (self.total - step - 1) / max(rate, 1e-9)
        pct = 100 * (step + 1) / self.total
        parts = " ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in fields.items())
        line = f"step {step + 1}/{self.total} ({pct:3.0f}%) {parts} | {_fmt_time(now - self.t0)}<{_fmt_time(eta)}"
        self.stream.write(("\r" + line + "\x1b[K") if self.tty else line + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled and self.tty:
            self.stream.write("\n")
            self.stream.flush()
