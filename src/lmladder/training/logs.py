"""Append-only TSV logs that `dvc plots` reads; on resume, rows from the abandoned future are dropped."""

from __future__ import annotations

from pathlib import Path


class TsvLog:
    def __init__(self, path: Path, columns: list[str], truncate_from: int = 0):
        self.path = Path(path)
        kept: list[str] = []
        if truncate_from > 0 and self.path.exists():
            lines = self.path.read_text().splitlines()
            # keep the header and rows logged before the resumed step (a killed run may have logged past it)
            kept = [ln for ln in lines[1:] if ln and int(ln.split("\t", 1)[0]) < truncate_from]
        self.f = open(self.path, "w", encoding="utf-8")  # noqa: SIM115 - held open for the whole run
        self.f.write("\t".join(columns) + "\n")
        for ln in kept:
            self.f.write(ln + "\n")
        self.f.flush()

    def write(self, row) -> None:
        self.f.write("\t".join(f"{v:.6g}" if isinstance(v, float) else str(v) for v in row) + "\n")
        self.f.flush()

    def write_many(self, rows) -> None:
        for r in rows:
            self.write(r)

    def close(self) -> None:
        self.f.close()
