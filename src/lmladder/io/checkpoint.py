"""Checkpoints as safetensors files, written and read through the `safetensors` package (never pickle).

`__metadata__` holds one entry, "lmladder": our JSON record {format, meta, sha256, header_sha256}; one, because the
package writes several in a random order (safetensors issue #584) and same inputs must give the same bytes (DVC).
`sha256` covers the tensors' bytes in name order, `header_sha256` the header's meaning (names, dtypes, shapes, format
tag, meta): neither depends on the layout the package picks, and a flipped shape or meta byte is caught like a weight.

Loading validates the header itself before the package sees the file: a pickle is refused unopened, every field is
checked against the file size before anything is allocated, and the messages are more precise than the package's.
Only `CheckpointError` comes out, its one-line message naming the file, the problem and the fix (and, for arrays
that cannot fit in memory or under LMLADDER_MEMORY_LIMIT, MemoryBudgetError, before any is read).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import struct
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import safetensors.numpy
from safetensors import SafetensorError, safe_open

from ..errors import LmladderError
from ..resources import check_fits, fmt_bytes
from .atomic import atomic_writer
from .files import check_user_file, path_kind

FORMAT = "lmladder-checkpoint-v2"  # v1 (lmladder's own writer) kept format, meta and digests as separate entries
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
_RECORD = ("format", "header_sha256", "meta", "sha256")
_UNREADABLE = "check permissions of the file and its folder"
_HEX64 = re.compile(r"[0-9a-f]{64}")
_CORRUPT = "the file is corrupted or not an lmladder checkpoint — restore it or retrain"
_TRUNCATED = "the file was cut short (an interrupted copy or a full disk) — restore it or retrain"
_MODIFIED = "modified — restore it or retrain"
_PICKLE = "looks like a pickle/PyTorch file; lmladder never unpickles files — convert it to safetensors"
_PICKLE_OPCODES = frozenset(b"().012BCFGIJKLMNPQRSTUVX]abcdeghijlopqrstu}") | frozenset(range(0x80, 0x99))

_Specs = dict[str, tuple[str, tuple[int, ...]]]  # tensor name -> (dtype code, shape), in name order


class CheckpointError(LmladderError, ValueError):
    """A checkpoint could not be saved or loaded; the message names the file, the problem and the fix."""


def _bad(path: Path, problem: str, fix: str = _CORRUPT) -> CheckpointError:
    return CheckpointError(f"{path}: {problem}; {fix}")


def _header_digest(specs: _Specs, meta: Any) -> str:
    """sha256 of the header's meaning, not of its bytes: tensor names, dtypes and shapes, format and meta."""
    tensors = {name: [code, list(shape)] for name, (code, shape) in specs.items()}
    text = json.dumps({"format": FORMAT, "meta": meta, "tensors": tensors}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def _data_digest(arrays: Mapping[str, np.ndarray]) -> str:
    """sha256 of the tensors' bytes in name order (`arrays` is sorted): shapes are pinned by the header digest."""
    h = hashlib.sha256()
    for a in arrays.values():
        h.update(a.reshape(-1).view(np.uint8))  # a C-contiguous byte view (0-d and empty arrays included), no copy
    return h.hexdigest()


# ---------------------------------------------------------------------------------------------------------- saving
def save_checkpoint(path: str | os.PathLike, arrays: Mapping[str, np.ndarray], meta: dict) -> None:
    """Write `arrays` (name -> array) and `meta` to `path` atomically. `meta` is any JSON-serialisable dict: big ints
    and NaN survive, tuples come back as lists. Same inputs give byte-identical files (stable DVC hashes)."""
    path = Path(path)
    if not isinstance(meta, dict):
        raise CheckpointError(f"cannot save {path}: meta must be a dict, got {type(meta).__name__}; wrap it in a dict")
    if bad := [n for n in arrays if not isinstance(n, str) or n == "__metadata__"]:
        raise CheckpointError(f"cannot save {path}: invalid array names {bad!r}; use strings other than '__metadata__'")
    prepared = {name: _prepare(path, name, arrays[name]) for name in sorted(arrays)}
    specs = {name: (_CODES[a.dtype.str], a.shape) for name, a in prepared.items()}
    sha256 = _data_digest(prepared)
    try:
        meta = json.loads(json.dumps(meta, sort_keys=True))  # as loading will see it (str keys, lists): same digest
        record = {"format": FORMAT, "meta": meta, "sha256": sha256, "header_sha256": _header_digest(specs, meta)}
        text = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    except (TypeError, ValueError, RecursionError) as exc:
        raise CheckpointError(
            f"cannot save {path}: meta is not JSON-serialisable ({exc}); "
            "store plain dicts/lists/str/int/float/bool/None (arrays via .tolist(), NumPy scalars via .item())"
        ) from None
    try:
        blob = safetensors.numpy.save(prepared, metadata={"lmladder": text})
    except UnicodeEncodeError:
        msg = f"cannot save {path}: a name or meta string is not valid Unicode; remove lone surrogates"
        raise CheckpointError(msg) from None
    with atomic_writer(path, "wb") as f:
        f.write(blob)


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
    specs, record = _read_header(path, verify)
    sizes = [DTYPES[code].itemsize * math.prod(shape) for code, shape in specs.values()]
    check_fits(  # every array, and the largest one twice: read into a buffer, then copied out of it
        sum(sizes) + max(sizes, default=0),
        f"reading {path} ({fmt_bytes(sum(sizes))} of arrays)",
        "free some memory, or read it on a machine with more",
    )
    try:  # pread, not mmap: a file cut short under a mapping kills the process (SIGBUS); a short pread raises
        with safe_open(path, framework="np", backend="pread") as f:
            arrays = {name: f.get_tensor(name).copy() for name in specs}  # owned, not views of its buffers
    except (SafetensorError, OSError, TypeError, ValueError) as exc:  # TypeError: a dtype NumPy lacks
        reason = (str(exc).splitlines() or [type(exc).__name__])[0][:120]
        raise _bad(path, f"the safetensors reader refused it ({reason})", "restore it or retrain") from None
    for name, (code, shape) in specs.items():
        a = arrays[name]
        if a.dtype != DTYPES[code] or a.shape != shape:
            raise _bad(path, "the file changed while it was being read", "make sure nothing else writes to it")
        if code == "BOOL" and (a.view(np.uint8) > 1).any():
            raise _bad(path, f"tensor {_short(name)} has bool bytes other than 0 and 1")
    if verify and _data_digest(arrays) != record["sha256"]:
        raise _bad(path, "checkpoint is corrupted (checksum mismatch)", f"it was probably truncated or {_MODIFIED}")
    return arrays, record["meta"]


def read_checkpoint_meta(path: str | os.PathLike) -> dict:
    """The checkpoint's meta dict, from its (fully validated) header alone; the data is not read."""
    return _read_header(Path(path), verify=True)[1]["meta"]


def _raw_header(path: Path) -> tuple[bytes, int]:
    """The header's bytes and the data's length; a pickle, an impossible length or any OS error is refused here."""
    kind = path_kind(path)  # before open(): opening a FIFO would block
    fix = "pass the .safetensors file inside it" if kind == "a directory" else "pass the path of a .safetensors file"
    missing = f"no checkpoint at {path}; train first or check the path"
    check_user_file(path, what=str(path), fix=fix, error=CheckpointError, missing=missing)
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            head = f.read(8)
            n = struct.unpack("<Q", head)[0] if len(head) == 8 else -1
            if not (2 <= n <= min(MAX_HEADER_BYTES, size - 8) and f.read(1) == b"{"):
                f.seek(max(size - 1, 0))
                if _looks_like_pickle(head, f.read(1)):
                    raise CheckpointError(f"{path} {_PICKLE}")
                if len(head) < 8:
                    raise _bad(path, f"file is too short ({size} bytes) to be a checkpoint")
                if n > MAX_HEADER_BYTES:
                    raise _bad(path, f"header length {n} exceeds the {MAX_HEADER_BYTES}-byte limit")
                if n > size - 8:
                    raise _bad(path, f"header length {n} is larger than the file ({size} bytes)", _TRUNCATED)
            f.seek(8)
            raw = f.read(n)
    except OSError as exc:
        raise _bad(path, f"cannot read checkpoint ({exc.strerror or exc})", _UNREADABLE) from None
    if len(raw) != n:
        raise _bad(path, "the file shrank while it was being read", "make sure nothing else writes to it")
    return raw, size - 8 - n


def _read_header(path: Path, verify: bool) -> tuple[_Specs, dict]:
    """(name -> (dtype, shape), our record), all validated; `verify` checks the header digest."""
    raw, data_len = _raw_header(path)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _bad(path, "header is not valid UTF-8") from None
    header = _parse_json(path, text, "header")
    if not isinstance(header, dict):
        raise _bad(path, f"header is a JSON {type(header).__name__}, not an object")
    metadata = header.pop("__metadata__", None)
    metadata = {} if metadata is None else metadata  # the format allows null
    if not (isinstance(metadata, dict) and all(isinstance(v, str) for v in metadata.values())):
        raise _bad(path, "__metadata__ is not a map of strings to strings")
    record = {}
    if "lmladder" in metadata:
        record = _parse_json(path, metadata["lmladder"], "lmladder metadata", allow_nan=True)
    if not isinstance(record, dict):
        raise _bad(path, f"lmladder metadata is a JSON {type(record).__name__}, not an object")
    tag = record.get("format", metadata.get("format"))  # a v1 or a plain safetensors file has it in __metadata__
    if tag != FORMAT:
        got = "has no format tag" if tag is None else f"has format tag {_short(tag)}, expected {FORMAT!r}"
        raise _bad(path, f"not an lmladder checkpoint (it {got})", "save it with lmladder.io.save_checkpoint")
    specs = _check_entries(path, header, data_len)
    if not isinstance(record.get("meta"), dict):
        raise _bad(path, "lmladder metadata has no 'meta' object (model config, vocab, step)")
    for key in ("sha256", "header_sha256"):  # both required: were one optional, a flip in its key would disable it
        if not (isinstance(record.get(key), str) and _HEX64.fullmatch(record[key])):
            raise _bad(path, f"metadata has no valid {key} (64 lowercase hex digits)")
    if set(record) != set(_RECORD):
        raise _bad(path, f"lmladder metadata has entries {_short(sorted(record))}, expected {list(_RECORD)}")
    if verify:
        try:
            digest = _header_digest(specs, record["meta"])
        except RecursionError:  # json.loads reached a depth that json.dumps, a few frames deeper, cannot
            raise _bad(path, "lmladder metadata is nested too deeply") from None
        if digest != record["header_sha256"]:
            raise _bad(path, "checkpoint header is corrupted (checksum mismatch)", f"it was probably {_MODIFIED}")
    return specs, record


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


def _check_entries(path: Path, header: dict, data_len: int) -> _Specs:
    """Validate every tensor entry, then that they tile the data buffer exactly (no gap, overlap or tail)."""
    spans = []
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
        spans.append((begin, end, name))
    pos = 0
    for begin, end, name in sorted(spans):
        if begin != pos:
            kind = "gap before" if begin > pos else "overlap at"
            raise _bad(path, f"data buffer has a {kind} tensor {_short(name)} (byte {begin}, expected {pos})")
        pos = end
    if pos != data_len:
        raise _bad(path, f"{data_len - pos} unexpected bytes after the last tensor; the file was appended to")
    return {name: (header[name]["dtype"], tuple(header[name]["shape"])) for name in sorted(header)}


def _looks_like_pickle(head: bytes, tail: bytes) -> bool:
    if head[:2] == b"PK":  # a zip archive: PyTorch >= 1.6 saves, .npz
        return True
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):  # PROTO: protocols 2-5, torch.save
        return head[2:3] != b"" and head[2] in _PICKLE_OPCODES
    return head[:1] != b"" and head[0] in _PICKLE_OPCODES and tail == b"."  # protocols 0/1 end with STOP
