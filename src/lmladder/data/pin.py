"""A corpus file held still across prepare's passes: the text encoded must be the text the folder is labelled with.

The streamed prepare reads its file several times (its sha256 first, the vocabulary, then the encoding); an edit in
between once gave a folder labelled with the old file's sha256 holding the new text, and every later check passed.
A Pin is taken before the first read: the first pass records the sha256 it read (and checks it against the digest
the caller names the result by, a cache key), the encoding pass hashes what it reads again, and `check` refuses,
before the folder is renamed into place, a file whose digest or stat (size, modification time, inode) moved.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

from .errors import DataError

BOM = "\ufeff".encode()


class CorpusChanged(DataError):
    """The corpus moved under prepare (the message says how)."""


def _stamp(path: Path) -> tuple[int, ...]:
    st = os.stat(path)
    return st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns


class FirstRead:
    """Two sha256s of pass 1: `read`, of the bytes fed (what the tokenizer reads), and `whole`, of the file (with the
    byte order mark that a text's reader leaves out)."""

    def __init__(self, path: Path, reads_bytes: bool):
        self.read, self.whole = hashlib.sha256(), hashlib.sha256()
        with open(path, "rb") as f:
            if not reads_bytes and (head := f.read(3)) == BOM:
                self.whole.update(head)

    def update(self, raw: bytes) -> None:
        self.read.update(raw)
        self.whole.update(raw)


class Pin:
    """`path` as it is now; `named`: the sha256 of the whole file the caller labels the result with (or None)."""

    def __init__(self, path: Path, what: str, named: str | None = None):
        self.path, self.what, self.named = Path(path), what, named
        self.stamp, self.sha = _stamp(self.path), None

    def first_hasher(self, reads_bytes: bool) -> FirstRead:
        """The hasher pass 1 feeds what it reads (a text without its byte order mark); give it to first_read."""
        return FirstRead(self.path, reads_bytes)

    def first_read(self, hasher: FirstRead) -> None:
        """Pass 1 read the file: its sha256 (of what the tokenizer reads) is what later passes must read again, and
        the whole file's must be the digest the caller named."""
        self.sha, whole = hasher.read.hexdigest(), hasher.whole.hexdigest()
        if self.named is not None and whole != self.named:
            raise self._changed(f"its sha256 was {self.named[:12]} when it was named, {whole[:12]} when read")
        self.check()

    def check(self, hasher=None) -> None:
        """Refuse a file that moved since the pin; `hasher`: a sha256 fed all a later pass read, as pass 1 read it."""
        if hasher is not None and hasher.hexdigest() != self.sha:
            now = hasher.hexdigest()
            raise self._changed(f"its sha256 was {self.sha[:12]} when first read, {now[:12]} when encoded")
        if self._moved():
            raise self._changed("its size or modification time changed")

    @contextlib.contextmanager
    def guard(self) -> Iterator[None]:
        """Whatever a pass makes of a file that moves under it (lines that no longer add up), say that it moved."""
        try:
            yield
        except CorpusChanged:
            raise
        except (DataError, OSError, ValueError, IndexError) as e:
            if not self._moved():
                raise
            raise self._changed("its size or modification time changed") from e

    def _moved(self) -> bool:
        try:
            return _stamp(self.path) != self.stamp
        except OSError:  # deleted or replaced by something unreadable
            return True

    def _changed(self, how: str) -> CorpusChanged:
        return CorpusChanged(
            f"{self.what} changed while it was being prepared ({how}); prepare again once nothing writes to it "
            "(or prepare a copy of it)"
        )
