"""Append-only TSV logs that `dvc plots` reads; on resume, rows from the abandoned future are dropped."""

from __future__ import annotations

import time
from pathlib import Path

from ..io import WriteError, atomic_write_text


def _kept_rows(path: Path, keep_below: int) -> list[str]:
    """Complete rows of an earlier log whose step is < keep_below (a killed run may have logged past its last
    checkpoint, and may have died in the middle of a row: a row without its newline is dropped)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return []
    rows = text.split("\n")[1:-1]  # drop the header and whatever follows the last newline
    return [row for row in rows if (step := row.split("\t", 1)[0]).isdigit() and int(step) < keep_below]


def trim_tsv(path: Path, keep_below: int) -> list[str]:
    """Rewrite an existing TSV log (a header, then rows that start with their step) keeping the complete rows of
    steps < keep_below, as TsvLog does on resume, for a log another writer appends to (DVCLive's); the kept rows."""
    header = Path(path).read_text(encoding="utf-8", errors="replace").split("\n", 1)[0]
    kept = _kept_rows(Path(path), keep_below)
    atomic_write_text(path, "".join(r + "\n" for r in [header, *kept]))
    return kept


class TsvLog:
    """`truncate_from` > 0 keeps an existing log's rows for steps < truncate_from (resume); 0 starts a new log."""

    def __init__(self, path: Path, columns: list[str], truncate_from: int = 0):
        self.path = Path(path)
        kept = _kept_rows(self.path, truncate_from) if truncate_from > 0 else []
        # rewritten atomically: a kill while trimming must not lose the rows that were kept
        atomic_write_text(self.path, "".join(r + "\n" for r in ["\t".join(columns), *kept]))
        try:
            self.f = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - held open for the whole run
        except OSError as e:
            raise self._error(e) from None
        self._flushed = time.monotonic()

    def _error(self, e: OSError) -> WriteError:
        return WriteError(
            f"cannot write {self.path}: {e.strerror or e}; free disk space or fix permissions of {self.path.parent}, "
            "then run again with resume=true",
            errno=e.errno,
            filename=str(self.path),
        )

    def write(self, row) -> None:
        line = "\t".join(f"{v:.6g}" if isinstance(v, float) else str(v) for v in row) + "\n"
        try:
            self.f.write(line)
            now = time.monotonic()
            if now - self._flushed > 0.5:  # a flush per step costs more than a tiny model's step; twice a second
                self.f.flush()  # keeps `tail -f` live, and a killed run's tail is trimmed on resume anyway
                self._flushed = now
        except OSError as e:
            raise self._error(e) from None

    def write_many(self, rows) -> None:
        for r in rows:
            self.write(r)

    def flush(self) -> None:
        try:
            self.f.flush()
        except OSError as e:
            raise self._error(e) from None

    def close(self) -> None:
        try:
            self.f.close()
        except OSError as e:
            raise self._error(e) from None


class Discard:
    """A log that keeps nothing: MPI ranks other than 0 run the same loop, and rank 0 alone writes the run's logs."""

    def write(self, row) -> None: ...
    def write_many(self, rows) -> None: ...
    def flush(self) -> None: ...
    def close(self) -> None: ...
