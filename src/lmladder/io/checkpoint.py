"""Checkpoints as safetensors files, written and read by our own code (never pickle).

Layout (https://github.com/huggingface/safetensors): an 8-byte little-endian header length N, N bytes of UTF-8 JSON
header (space-padded to a multiple of 8), then the data buffer. The header maps each tensor name to its dtype, shape
and [begin, end) byte offsets in the buffer; `__metadata__` (a str -> str map) holds our format tag, the caller's
metadata as a JSON string, `sha256` of the data buffer and `header_sha256` of the canonical header (tensor index plus
metadata), so a flipped dtype, shape or metadata byte is caught as surely as a flipped weight.

Loading checks the whole header against the file size before allocating anything and raises only `CheckpointError`,
whose one-line message names the file, the problem and the fix.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import re
import stat
import struct
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any, NamedTuple

import numpy as np

from ..errors import LmladderError
from .atomic import atomic_writer

__all__ = ["CheckpointError", "save_checkpoint", "load_checkpoint", "read_checkpoint_meta", "FORMAT", "DTYPES"]

FORMAT = "lmladder-checkpoint-v1"
DTYPES = {
    "F64": np.dtype("<f8"), "F32": np.dtype("<f4"), "F16": np.dtype("<f2"),
    "I64": np.dtype("<i8"), "I32": np.dtype("<i4"), "I16": np.dtype("<i2"), "I8": np.dtype("i1"),
    "U64": np.dtype("<u8"), "U32": np.dtype("<u4"), "U16": np.dtype("<u2"), "U8": np.dtype("u1"),
    "BOOL": np.dtype("bool"),
}  # fmt: skip
_CODES = {dt.str: code for code, dt in DTYPES.items()}
MAX_HEADER_BYTES = 100_000_000  # the reference implementation's limit
_MAX_DIMS = 32  # NumPy 1.x's limit (2.x allows 64)
_MAX_NBYTES = np.iinfo(np.intp).max  # NumPy refuses shapes whose non-zero dims multiply past this, even if empty
_UNREADABLE = "check permissions of the file and its folder"
_HEX64 = re.compile(r"[0-9a-f]{64}")
_CORRUPT = "the file is corrupted or not an lmladder checkpoint — restore it or retrain"
_TRUNCATED = "the file was cut short (an interrupted copy or a full disk) — restore it or retrain"
_PICKLE_OPCODES = frozenset(b"().012BCFGIJKLMNPQRSTUVX]abcdeghijlopqrstu}") | frozenset(range(0x80, 0x99))


class CheckpointError(LmladderError, ValueError):
    """A checkpoint could not be saved or loaded; the message names the file, the problem and the fix."""


class _Entry(NamedTuple):
    name: str
    dtype: str
    shape: tuple[int, ...]
    begin: int
    end: int


class _Header(NamedTuple):
    entries: list[_Entry]  # sorted by offset, i.e. in file order
    meta: dict
    sha256: str
    data_start: int


def _bad(path: Path, problem: str, fix: str = _CORRUPT) -> CheckpointError:
    return CheckpointError(f"{path}: {problem}; {fix}")


def _header_digest(entries: Mapping[str, Any], metadata: Mapping[str, str]) -> str:
    """sha256 of the header's meaning (not its bytes): entries + metadata minus both digests, canonical JSON."""
    md = {k: v for k, v in metadata.items() if k not in ("sha256", "header_sha256")}
    canon = json.dumps({**entries, "__metadata__": md}, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canon.encode("ascii")).hexdigest()


def _bytes(a: np.ndarray) -> np.ndarray:
    return a.reshape(-1).view(np.uint8)  # a C-contiguous byte view (0-d and empty arrays included), no copy


# ---------------------------------------------------------------------------------------------------------- saving
def save_checkpoint(path: str | os.PathLike, arrays: Mapping[str, np.ndarray], meta: dict) -> None:
    """Write `arrays` (name -> array) and `meta` to `path` atomically. `meta` is any JSON-serialisable dict: big ints
    and NaN survive, tuples come back as lists. Same inputs give byte-identical files (stable DVC hashes)."""
    path = Path(path)
    if not isinstance(meta, dict):
        raise CheckpointError(f"cannot save {path}: meta must be a dict, got {type(meta).__name__}; wrap it in a dict")
    try:
        meta_json = json.dumps(meta, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    except (TypeError, ValueError, RecursionError) as exc:
        raise CheckpointError(
            f"cannot save {path}: meta is not JSON-serialisable ({exc}); "
            "store plain dicts/lists/str/int/float/bool/None (arrays via .tolist(), NumPy scalars via .item())"
        ) from None
    bad = [n for n in arrays if not isinstance(n, str) or n == "__metadata__"]
    if bad:
        raise CheckpointError(f"cannot save {path}: invalid array names {bad!r}; use strings other than '__metadata__'")
    prepared = {name: _prepare(path, name, arrays[name]) for name in sorted(arrays)}
    data_hash = hashlib.sha256()
    entries, offset = {}, 0
    for name, a in prepared.items():
        data_hash.update(_bytes(a))
        shape = [int(d) for d in a.shape]
        entries[name] = {"dtype": _CODES[a.dtype.str], "shape": shape, "data_offsets": [offset, offset + a.nbytes]}
        offset += a.nbytes
    metadata = {"format": FORMAT, "lmladder": meta_json, "sha256": data_hash.hexdigest()}
    metadata["header_sha256"] = _header_digest(entries, metadata)
    try:
        header = json.dumps({"__metadata__": metadata, **entries}, separators=(",", ":"), ensure_ascii=False)
        raw = header.encode("utf-8")
    except UnicodeEncodeError:
        msg = f"cannot save {path}: a name or meta string is not valid Unicode; remove lone surrogates"
        raise CheckpointError(msg) from None
    raw += b" " * (-len(raw) % 8)  # the format pads the header to 8 bytes so the data buffer is aligned
    with atomic_writer(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        for a in prepared.values():
            f.write(_bytes(a))


def _prepare(path: Path, name: str, value: Any) -> np.ndarray:
    a = np.asarray(value)
    code = _CODES.get(a.dtype.newbyteorder("<").str)
    if code is None:
        raise CheckpointError(
            f"cannot save {path}: array {name!r} has dtype {a.dtype}, which checkpoints do not support; "
            "cast it to float64/32/16, (u)int64/32/16/8 or bool"
        )
    return a.astype(DTYPES[code], order="C", copy=False)  # little-endian, C-contiguous; keeps 0-d arrays 0-d


# ---------------------------------------------------------------------------------------------------------- loading
def load_checkpoint(path: str | os.PathLike, *, verify: bool = True) -> tuple[dict[str, np.ndarray], dict]:
    """Read a checkpoint written by `save_checkpoint`: (name -> array, meta). `verify` checks both sha256 digests."""
    path = Path(path)
    with _open(path) as (f, size):
        header = _read_header(f, path, size, verify)
        f.seek(header.data_start)
        data_hash = hashlib.sha256() if verify else None
        arrays = {}
        for e in header.entries:  # in file order, so one sequential read
            arr = np.empty(e.shape, dtype=DTYPES[e.dtype])
            buf = _bytes(arr)
            if f.readinto(buf) != e.end - e.begin:
                raise _bad(path, "the file shrank while it was being read", "make sure nothing else writes to it")
            if e.dtype == "BOOL" and (buf > 1).any():
                raise _bad(path, f"tensor {_short(e.name)} has bool bytes other than 0 and 1")
            if data_hash is not None:
                data_hash.update(buf)
            arrays[e.name] = arr
    if data_hash is not None and data_hash.hexdigest() != header.sha256:
        raise _bad(
            path,
            "checkpoint is corrupted (checksum mismatch)",
            "it was probably truncated or modified — restore it or retrain",
        )
    return dict(sorted(arrays.items())), header.meta


def read_checkpoint_meta(path: str | os.PathLike) -> dict:
    """The checkpoint's meta dict, from its (fully validated) header alone; the data buffer is not read."""
    path = Path(path)
    with _open(path) as (f, size):
        return _read_header(f, path, size, verify=True).meta


@contextlib.contextmanager
def _open(path: Path) -> Iterator[tuple[IO[bytes], int]]:
    """Open a regular file for reading; every OS error becomes a CheckpointError."""
    try:
        st = os.stat(path)  # before open(): opening a FIFO would block
    except (FileNotFoundError, NotADirectoryError):
        raise CheckpointError(f"no checkpoint at {path}; train first or check the path") from None
    except OSError as exc:
        raise _bad(path, f"cannot read checkpoint ({exc.strerror})", _UNREADABLE) from None
    if stat.S_ISDIR(st.st_mode):
        raise _bad(path, "is a directory, not a checkpoint file", "pass the .safetensors file inside it")
    if not stat.S_ISREG(st.st_mode):
        raise _bad(path, "is not a regular file", "pass the path of a .safetensors checkpoint")
    try:
        with open(path, "rb") as f:
            yield f, os.fstat(f.fileno()).st_size
    except OSError as exc:
        raise _bad(path, f"cannot read checkpoint ({exc.strerror or exc})", _UNREADABLE) from None


def _read_header(f: IO[bytes], path: Path, size: int, verify: bool) -> _Header:
    head = f.read(8)
    n = struct.unpack("<Q", head)[0] if len(head) == 8 else -1
    plausible = 2 <= n <= min(MAX_HEADER_BYTES, size - 8)
    if not (plausible and f.read(1) == b"{"):
        f.seek(max(size - 1, 0))
        if _looks_like_pickle(head, f.read(1)):
            raise CheckpointError(
                f"{path} looks like a pickle/PyTorch file; lmladder never unpickles files — convert it to safetensors"
            )
        if len(head) < 8:
            raise _bad(path, f"file is too short ({size} bytes) to be a checkpoint")
        if n > MAX_HEADER_BYTES:
            raise _bad(path, f"header length {n} exceeds the {MAX_HEADER_BYTES}-byte limit")
        if n > size - 8:
            raise _bad(path, f"header length {n} is larger than the file ({size} bytes)", _TRUNCATED)
    f.seek(8)
    raw = f.read(n)
    if len(raw) != n:
        raise _bad(path, "the file shrank while it was being read", "make sure nothing else writes to it")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _bad(path, "header is not valid UTF-8") from None
    header = _parse_json(path, text, "header")
    if not isinstance(header, dict):
        raise _bad(path, f"header is a JSON {type(header).__name__}, not an object")
    metadata = header.pop("__metadata__", None)
    if metadata is not None and not (isinstance(metadata, dict) and all(isinstance(v, str) for v in metadata.values())):
        raise _bad(path, "__metadata__ is not a map of strings to strings")
    tag = (metadata or {}).get("format")
    if tag != FORMAT:
        got = "has no format tag" if tag is None else f"has format tag {tag!r}, expected {FORMAT!r}"
        raise _bad(path, f"not an lmladder checkpoint (it {got})", "save it with lmladder.io.save_checkpoint")
    entries = _check_entries(path, header, size - 8 - n)
    if "lmladder" not in metadata:
        raise _bad(path, "metadata has no 'lmladder' entry (model config, vocab, step)")
    meta = _parse_json(path, metadata["lmladder"], "lmladder metadata", allow_nan=True)
    if not isinstance(meta, dict):
        raise _bad(path, f"lmladder metadata is a JSON {type(meta).__name__}, not an object")
    for key in ("sha256", "header_sha256"):  # both required: were one optional, a flip in its key would disable it
        if not _HEX64.fullmatch(metadata.get(key, "")):
            raise _bad(path, f"metadata has no valid {key} (64 lowercase hex digits)")
    if verify and metadata["header_sha256"] != _header_digest(header, metadata):
        raise _bad(
            path,
            "checkpoint header is corrupted (checksum mismatch)",
            "it was probably modified — restore it or retrain",
        )
    return _Header(entries, meta, metadata["sha256"], 8 + n)


def _parse_json(path: Path, text: str, what: str, allow_nan: bool = False) -> Any:
    # The outer header must be strict JSON (other readers parse it); our own meta may carry NaN/Infinity (a loss).
    constants = {} if allow_nan else {"parse_constant": _no_constants}
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates, **constants)
    except (ValueError, RecursionError) as exc:  # RecursionError: absurdly deep nesting
        reason = (str(exc).splitlines() or [type(exc).__name__])[0][:120]
        raise _bad(path, f"{what} is not valid JSON ({reason})") from None


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict:
    out = dict(pairs)
    if len(out) != len(pairs):
        raise ValueError("duplicate key")  # json.loads would silently keep the last one
    return out


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."  # a hostile header must not make a megabyte message


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _check_entries(path: Path, header: dict, data_len: int) -> list[_Entry]:
    """Validate every tensor entry, then that they tile the data buffer exactly (no gap, overlap or tail)."""
    entries = []
    for name, info in header.items():
        where = f"tensor {_short(name)}"
        if not isinstance(info, dict) or set(info) != {"dtype", "shape", "data_offsets"}:
            raise _bad(path, f"{where} is not an object with exactly dtype, shape and data_offsets")
        dtype, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
        if not isinstance(dtype, str) or dtype not in DTYPES:
            raise _bad(path, f"{where} has unknown dtype {_short(dtype)} (supported: {', '.join(DTYPES)})")
        if not isinstance(shape, list) or len(shape) > _MAX_DIMS or not all(_is_int(d) and d >= 0 for d in shape):
            raise _bad(path, f"{where} has invalid shape {_short(shape)} (expected a list of at most 32 ints >= 0)")
        itemsize = DTYPES[dtype].itemsize
        if math.prod(d for d in shape if d) * itemsize > _MAX_NBYTES:
            raise _bad(path, f"{where} has an impossibly large shape {_short(shape)}")
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(_is_int(o) and o >= 0 for o in offsets)):
            raise _bad(path, f"{where} has invalid data_offsets {_short(offsets)} (expected [begin, end], ints >= 0)")
        begin, end = offsets
        if end < begin:
            raise _bad(path, f"{where} has data_offsets {offsets!r} with end before begin")
        if end - begin != math.prod(shape) * itemsize:
            need = math.prod(shape) * itemsize
            raise _bad(path, f"{where} spans {end - begin} bytes but shape {_short(shape)} of {dtype} needs {need}")
        if end > data_len:
            raise _bad(path, f"{where} ends at byte {end} but the data buffer has {data_len}", _TRUNCATED)
        entries.append(_Entry(name, dtype, tuple(shape), begin, end))
    entries.sort(key=lambda e: (e.begin, e.end))
    pos = 0
    for e in entries:
        if e.begin != pos:
            kind = "gap before" if e.begin > pos else "overlap at"
            raise _bad(path, f"data buffer has a {kind} tensor {_short(e.name)} (byte {e.begin}, expected {pos})")
        pos = e.end
    if pos != data_len:
        raise _bad(path, f"{data_len - pos} unexpected bytes after the last tensor; the file was appended to")
    return entries


def _looks_like_pickle(head: bytes, tail: bytes) -> bool:
    if head[:2] == b"PK":  # a zip archive: PyTorch >= 1.6 saves, .npz
        return True
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):  # PROTO: protocols 2-5, torch.save
        return head[2:3] != b"" and head[2] in _PICKLE_OPCODES
    return head[:1] != b"" and head[0] in _PICKLE_OPCODES and tail == b"."  # protocols 0/1 end with STOP
