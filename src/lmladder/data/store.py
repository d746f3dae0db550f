"""Where a run's prepared data lives. `dvc repro` reads the DVC-tracked `data/prepared`, and it must match the
run's data config. Plain Hydra runs and sweeps use it when it matches too; otherwise they prepare (once) into a
content-addressed cache, `data/cache/<key>`, keyed by the data config and the corpus's sha256."""

from __future__ import annotations

import contextlib
import glob
import hashlib
import json
from dataclasses import asdict, is_dataclass
from pathlib import Path

import filelock

from ..io import WriteError, remove_stale_temps
from .config import DataConfig
from .errors import CorruptDataError, DataError
from .manifest import MANIFEST
from .prepared import Prepared, load_prepared, prepare_corpus
from .registry import tokenizer_class
from .sources import corpus_file, load_source, source_sha256
from .streaming import STREAMED, check_disk, prepare_file
from .tokenizers.bpe import PATTERNS

# keys that change the prepared arrays (name, raw_dir and where a copy lives do not), then the chosen source's and
# tokenizer's own blocks
_KEYS = ("source", "url", "sha256", "kind", "tokenizer", "fractions", "split_seed")
STREAM_FROM = 1 << 25  # bytes of a corpus file from which it is prepared a chunk at a time (32 MiB)


def data_signature(data: DataConfig) -> dict:
    sig = {k: getattr(data, k) for k in _KEYS}
    for choice in (data.source, data.tokenizer):  # the block named after each, if it has one
        if is_dataclass(own := getattr(data, choice, None)):
            sig[choice] = asdict(own)
    if data.source == "file":
        sig["path"] = data.path
    sig["fractions"] = [float(f) for f in data.fractions]
    return sig


def _source_args(data: DataConfig) -> dict:
    """load_source's arguments, from the data settings."""
    return dict(path=data.path, url=data.url, sha256=data.sha256, year=data.babynames.year, raw_dir=data.raw_dir)


def _tokenizer_args(data: DataConfig) -> dict:
    """The chosen tokenizer's own settings (its block), as prepare_corpus's keyword arguments."""
    own = getattr(data, data.tokenizer, None)
    return asdict(own) if is_dataclass(own) else {}


def prepare(data: DataConfig, out_dir: str | Path, corpus_sha256: str | None = None) -> dict:
    """Read the corpus named by `data` and write its prepared arrays to out_dir (atomically): in memory, or a chunk
    at a time (streaming.py, streaming_lines.py) for a corpus file of STREAM_FROM bytes or more. `corpus_sha256`: the
    corpus's digest as the caller found it (a cache folder's name); a corpus read otherwise is refused (pin.py)."""
    tokenizer, options = tokenizer_class(data.tokenizer), _tokenizer_args(data)
    remove_stale_temps(Path(out_dir).parent, of=Path(out_dir).name)  # a killed prepare's half-written arrays
    if file := _streamed(data):
        check_disk(Path(out_dir).absolute().parent, file.stat().st_size)  # before hashing: a TiB takes 20 minutes
        digest = corpus_sha256 or source_sha256(data.source, **_source_args(data))
        args = dict(tokenizer=data.tokenizer, fractions=list(data.fractions), out_dir=out_dir, source=f"file:{file}",
                    meta=_meta(data, digest), **options)  # fmt: skip
        from .streaming_lines import prepare_lines_file  # numba's byte kernels: loaded only where a corpus streams

        return (prepare_lines_file if data.kind == "lines" else prepare_file)(file, split_seed=data.split_seed, **args)
    src = load_source(data.source, **_source_args(data))
    if corpus_sha256 is not None and src.sha256 != corpus_sha256:  # read once here: what was named is what is used
        raise DataError(
            f"{src.description} changed while it was being prepared (its sha256 was {corpus_sha256[:12]} when it was "
            f"named, {src.sha256[:12]} when read); prepare again once nothing writes to it (or prepare a copy of it)"
        )
    return prepare_corpus(
        src.data if tokenizer.reads_bytes else src.text(),
        kind=data.kind,
        tokenizer=data.tokenizer,
        fractions=list(data.fractions),
        split_seed=data.split_seed,
        out_dir=out_dir,
        source=src.description,
        meta=_meta(data, src.sha256),
        **options,
    )


def _streamed(data: DataConfig) -> Path | None:
    """The corpus file to prepare a chunk at a time, or None (in memory)."""
    file = corpus_file(data.source, data.path)
    if file is None or data.tokenizer not in STREAMED or not file.is_file():
        return None
    if data.tokenizer == "bpe" and PATTERNS.get(data.bpe.pattern) is None:  # no pre-split: one token run, unbounded
        return None
    return file if file.stat().st_size >= STREAM_FROM else None


def _meta(data: DataConfig, corpus_sha256: str) -> dict:
    return {
        "data": asdict(data),
        "signature": data_signature(data),
        "corpus_sha256": corpus_sha256,
        "key": _key(data, corpus_sha256),
    }


def _key(data: DataConfig, corpus_sha256: str) -> str:
    blob = json.dumps({"signature": data_signature(data), "corpus": corpus_sha256}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def load_matching(data: DataConfig, prepared_dir: str | Path) -> Prepared:
    """Load prepared data and insist it was made from this data config (the DVC path: no corpus access)."""
    prep = load_prepared(prepared_dir)
    recorded = prep.stats.get("meta", {}).get("signature")
    if recorded != json.loads(json.dumps(data_signature(data))):
        raise DataError(
            f"{prepared_dir} was prepared from data config {recorded}, but this run asks for "
            f"{data_signature(data)}; run `dvc repro` (or `dvc exp run` after editing conf/)"
        )
    return prep


def ensure_prepared(
    data: DataConfig, *, prepared_dir: str | Path, cache_root: str | Path = "data/cache", log=print
) -> tuple[Prepared, Path]:
    """The prepared data for `data`: data/prepared if it matches, else the cache entry (prepared on first use)."""
    try:
        return load_matching(data, prepared_dir), Path(prepared_dir)
    except CorruptDataError:  # edited since it was prepared: say so rather than quietly train on the cache
        raise
    except DataError:
        pass
    if (file := _streamed(data)) and not _cached_before(data, Path(cache_root)):
        check_disk(Path(cache_root).absolute(), file.stat().st_size)  # before hashing: a TiB takes 20 minutes
    digest = source_sha256(data.source, **_source_args(data))
    path = Path(cache_root) / f"{data.name}-{_key(data, digest)}"
    if not (path / MANIFEST).exists():  # never prepared, or by an older lmladder (unverifiable): prepare it now
        with _lock(path.with_name(path.name + ".lock"), log):
            # parallel sweep jobs wait here for the first one, instead of swapping the folder under its reader
            if not (path / MANIFEST).exists():
                log(f"preparing {data.name} into {path}")
                prepare(data, path, digest)
    return load_prepared(path), path


def find_prepared(
    data: DataConfig, *, prepared_dir: str | Path, cache_root: str | Path
) -> tuple[Prepared, Path] | None:
    """Where `ensure_prepared` would find `data` (prepared_dir if it matches, else its cache entry), preparing
    nothing: None when neither holds it (or the corpus itself is gone). What `lmladder inspect` and `lmladder diff`
    read a run's own data from."""
    try:
        return load_matching(data, prepared_dir), Path(prepared_dir)
    except CorruptDataError:
        raise
    except DataError:
        pass
    try:
        digest = source_sha256(data.source, **_source_args(data))
    except DataError:
        return None
    path = Path(cache_root) / f"{data.name}-{_key(data, digest)}"
    return (load_prepared(path), path) if (path / MANIFEST).exists() else None


def _cached_before(data: DataConfig, cache_root: Path) -> bool:
    """Whether the cache holds a folder prepared from this data config (from this corpus or an earlier version)."""
    want = json.loads(json.dumps(data_signature(data)))
    for stats in cache_root.glob(f"{glob.escape(data.name)}-*/stats.json"):
        with contextlib.suppress(OSError, ValueError, AttributeError):
            if json.loads(stats.read_text(encoding="utf-8")).get("meta", {}).get("signature") == want:
                return True
    return False


@contextlib.contextmanager
def _lock(path: Path, log):
    """An exclusive lock between processes on one machine, waited for, and said so (filelock: the OS's own lock on
    Linux, macOS and Windows)."""
    lock = filelock.FileLock(path)
    try:  # paths.prepared under a file or a read-only folder: the cache beside it cannot be made
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            lock.acquire(timeout=0)
        except filelock.Timeout:
            log(f"waiting for another process that prepares {path.with_suffix('')}")
            lock.acquire()
    except OSError as e:
        raise WriteError(
            f"cannot create the data cache {path.parent}: {e.strerror or e}; point paths.prepared at a folder that "
            "can be written (its cache goes beside it)"
        ) from None
    try:
        yield
    finally:
        lock.release()
