"""A corpus file held still across prepare's passes: the text encoded must be the text the folder is labelled with.

The streamed prepare reads its file several times (its sha256 first, the vocabulary, then the encoding); an edit in
between once gave a folder labelled with the old file's sha256 holding the new text, and every later check passed.
A Pin is taken before the first read: the first pass records the sha256 it read (and checks it against the digest
the caller names the result by, a cache key), the encoding pass hashes what it reads again, and `check` refuses,
before the folder is renamed into place, a file whose digest or stat (size, modification time, inode) moved.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from .errors import DataError


class CorpusChanged(DataError):
    """The corpus moved under prepare (the message says how)."""


def _stamp(path: Path) -> tuple[int, ...]:
    st = os.stat(path)
    return st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns


class Pin:
    """`path` as it is now; `named`: the sha256 of the whole file the caller labels the result with (or None)."""

    def __init__(self, path: Path, what: str, named: str | None = None):
        self.path, self.what, self.named = Path(path), what, named
        self.stamp, self.sha = _stamp(self.path), None

    def first_read(self, sha: str, whole: str) -> None:
        """Pass 1 read `sha` (what the tokenizer reads) and `whole` (every byte of the file)."""
        self.sha = sha
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
