"""manifest.json in a prepared folder: the sha256 of each other file, recorded at prepare and checked at every load,
so an edited vocab.json or train.npy (two letters or two token ids swapped) is refused instead of trained on.

Cost: verifying reads every file once through hashlib.sha256 (about 1 GB/s on one core), so a run on a 1 GB token
array starts about a second later; preparing such a corpus takes minutes, hashing it there adds the same second."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from .errors import CorruptDataError, DataError, StaleDataError

MANIFEST = "manifest.json"
FILES = ("vocab.json", "stats.json", "train.npy", "val.npy", "test.npy")  # all a prepared folder may hold


def sha256_file(file: Path) -> str:
    with open(file, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def write_manifest(folder: Path) -> None:
    """Called last inside prepare's atomic directory: every file written so far, by name."""
    sums = {name: sha256_file(folder / name) for name in FILES if (folder / name).is_file()}
    (folder / MANIFEST).write_text(json.dumps({"sha256": sums}, indent=2) + "\n", encoding="utf-8")


def verify(folder: Path, hint: str) -> None:
    """Raise unless every prepared file in `folder` is listed in its manifest.json with its current sha256."""
    fix = f"delete {folder} (the next run or `dvc repro` prepares it again) or {hint}"
    file = folder / MANIFEST
    if not file.is_file():
        raise StaleDataError(f"{folder} has no {MANIFEST} (prepared by an older lmladder, unverifiable); {fix}")
    try:
        sums = json.loads(file.read_text(encoding="utf-8")).get("sha256")
    except (OSError, ValueError, AttributeError):  # unreadable, not JSON (or not UTF-8), or not an object
        sums = None
    if not isinstance(sums, dict) or not set(sums) <= set(FILES):
        raise CorruptDataError(f"{file} is not a manifest of {', '.join(FILES)}; {fix}")
    present = {name for name in FILES if (folder / name).is_file()}
    for name in [n for n in FILES if n in present | set(sums)]:
        if name not in sums:
            raise CorruptDataError(f"{folder / name} is not listed in {MANIFEST}, so was not prepared here; {fix}")
        if name not in present:
            raise DataError(f"prepared data at {str(folder)!r} lacks {name}; {fix}")
        try:
            digest = sha256_file(folder / name)
        except OSError as e:
            raise DataError(f"cannot read {folder / name} ({e.strerror or e}); check its permissions") from None
        if digest != sums[name]:
            raise CorruptDataError(
                f"{folder / name} does not match its sha256 in {MANIFEST} (edited or corrupted since it was "
                f"prepared); {fix}"
            )
