"""Per-unit scores: what the paired bootstrap resamples (reports/significance.py).

A split's scoring units are its documents (a lines corpus: one name each) or consecutive blocks of UNIT_CHARS
characters of its text (a stream corpus). Blocks are cut in characters, not tokens, so runs with different
tokenizers of one text share their units. A predicted token belongs to the unit its LAST character falls in: a
token that spans a block boundary counts wholly in the later block (its NLL cannot be split), and a document's
end token belongs to its document. Each unit keeps the NLL sum (nats), the token count and the characters and
UTF-8 bytes of its predicted tokens, so its sums over units are the split's exact scores.

The file (`units.npz`, numpy's zip of .npy arrays, read with allow_pickle=False) holds, per split S,
S_nll (U,) float64, S_tokens / S_chars / S_bytes (U,) int64, and `meta`, a JSON string: the format, and per split
its unit rule and a sha256 digest of the split's text + rule, so only units of the same text are ever paired.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..data.batching import doc_bounds
from ..data.tokenizers import Tokenizer
from ..errors import LmladderError
from ..io import atomic_writer, read_user_file

UNIT_CHARS = 1000  # a stream corpus's unit: this many characters of the split's text (Tiny Shakespeare val: 112)
UNIT_CHUNK = 1 << 20  # tokens split_units reads at a time
UNITS_FILE = "units.npz"
FORMAT = 1
FIELDS = {"nll": np.float64, "tokens": np.int64, "chars": np.int64, "bytes": np.int64}
NLL_RTOL = 1e-5  # float32 per-batch sums vs float64 per-unit sums: round-off, far below any real difference


class UnitsError(LmladderError, ValueError):
    """A unit scores file cannot be read or does not match its run; the message names the file and the fix."""


@dataclass
class SplitUnits:
    nll: np.ndarray  # (U,) float64: summed NLL of the unit's predicted tokens, nats
    tokens: np.ndarray  # (U,) int64
    chars: np.ndarray  # (U,) int64
    bytes: np.ndarray  # (U,) int64
    unit: str  # "document" or "block1000"
    digest: str  # sha256 of the rule and the split's text: equal digests <=> the same units

    @property
    def mean_nll(self) -> float:
        return float(self.nll.sum() / max(int(self.tokens.sum()), 1))


def token_sizes(tok: Tokenizer, ids: np.ndarray, prev: int | None) -> tuple[np.ndarray, np.ndarray, bytes]:
    """(chars (n,), bytes (n,), their UTF-8 text) of the tokens `ids`, which follow the token `prev` in the split
    (None: they open it)."""
    ids = np.asarray(ids, dtype=np.int64)
    if hasattr(tok, "token_bytes"):  # byte-level: exact bytes; a character ends at each non-continuation byte
        table = [tok.token_bytes(i) for i in range(tok.vocab_size)]
        data = b"".join([table[i] for i in ids.tolist()])
        nbytes = np.array([len(t) for t in table], dtype=np.int64)[ids]
        lead = np.concatenate([[0], np.cumsum((np.frombuffer(data, np.uint8) & 0xC0) != 0x80)])
        ends = lead[np.cumsum(nbytes)]  # (n,) characters up to the end of each token
        return np.diff(ends, prepend=0), nbytes, data
    # Otherwise what a token adds to the text may depend on the token before it (the word tokenizer's spaces):
    # decode each distinct (previous, token) pair once.
    V = tok.vocab_size
    before = ids[:1] if prev is None else np.array([prev])
    rest = ids[1:] if prev is None else ids
    pairs, inverse = np.unique(np.concatenate([before, rest[:-1]]) * V + rest, return_inverse=True)
    head = [tok.decode(before)] if prev is None else []
    adds = head + [tok.decode(np.array([p // V, p % V]))[len(tok.decode(np.array([p // V]))) :] for p in pairs.tolist()]
    chars = np.array([len(a) for a in adds], dtype=np.int64)
    nbytes = np.array([len(_utf8(a)) for a in adds], dtype=np.int64)
    k = len(head)
    text = tok.decode(ids) if prev is None else tok.decode(np.concatenate([before, ids]))[len(tok.decode(before)) :]
    return (
        np.concatenate([chars[:k], chars[k:][inverse]]),
        np.concatenate([nbytes[:k], nbytes[k:][inverse]]),
        _utf8(text),
    )


def _utf8(s: str) -> bytes:
    return s.encode("utf-8", "surrogatepass")


def split_units(tok: Tokenizer, ids, token_nll: np.ndarray, *, kind: str, boundary_id: int | None) -> SplitUnits:
    """Sum `token_nll` ((N-1,): the NLL of targets ids[1:]) into the split's units, UNIT_CHUNK tokens at a time (a
    10M-token split in ~100 MB)."""
    ids = np.asarray(ids)
    if kind == "lines":
        _, ends = doc_bounds(ids, boundary_id)  # doc d: targets ids[s_d+1 .. e_d]
        name, n = "document", len(ends)
    else:
        name, n, done = f"block{UNIT_CHARS}", 0, 0  # done: characters of the text before the chunk
    h = hashlib.sha256(f"lmladder-units/{FORMAT}/{kind}/{name}\n".encode())
    sums = {k: np.zeros(n) for k in FIELDS}
    for a in range(0, len(ids), UNIT_CHUNK):
        chunk = np.asarray(ids[a : a + UNIT_CHUNK])
        chars, nbytes, text = token_sizes(tok, chunk, None if a == 0 else int(ids[a - 1]))
        h.update(text)
        p = np.arange(max(a, 1), a + len(chunk))  # target positions
        if kind == "lines":
            unit = np.searchsorted(ends, p, side="left")
        else:
            end = done + np.cumsum(chars)  # the text's characters up to each token's end
            unit, done = np.maximum(end[p - a] - 1, 0) // UNIT_CHARS, int(end[-1])
            n = max(-(-done // UNIT_CHARS), 1)
            sums = {k: np.pad(v, (0, n - len(v))) for k, v in sums.items()}
        if not len(p):
            continue
        lo = int(unit[0])  # units only grow along the split: add this chunk's sums into sums[lo:]
        for k, w in (("nll", np.asarray(token_nll[p[0] - 1 : p[-1]], np.float64)), ("tokens", None),
                     ("chars", chars[p - a]), ("bytes", nbytes[p - a])):  # fmt: skip
            part = np.bincount(unit - lo, weights=w)
            sums[k][lo : lo + len(part)] += part
    return SplitUnits(**{k: v.astype(FIELDS[k]) for k, v in sums.items()}, unit=name, digest=h.hexdigest())


def save_units(path: str | Path, units: dict[str, SplitUnits]) -> None:
    """Write every split's units to `path` atomically (a crash leaves the old file or the whole new one)."""
    meta = {"format": FORMAT, "splits": {s: {"unit": u.unit, "digest": u.digest} for s, u in units.items()}}
    arrays = {f"{s}_{f}": getattr(u, f).astype(t) for s, u in units.items() for f, t in FIELDS.items()}
    arrays["meta"] = np.array(json.dumps(meta, sort_keys=True))
    with atomic_writer(path, "wb") as f, zipfile.ZipFile(f, "w", zipfile.ZIP_STORED) as z:
        for key, a in arrays.items():  # np.savez's layout with a fixed date: the same scores, the same bytes
            with z.open(zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0)), "w") as member:
                np.lib.format.write_array(member, a, allow_pickle=False)


FIX = "delete it (the run is then reported without intervals) or re-run the run, or the evaluate stage for a report"


def load_units(
    path: str | Path, *, metrics: dict | None = None, raw: bytes | None = None, fix: str = FIX
) -> dict[str, SplitUnits]:
    """Read and check a unit file; with the run's `metrics` (metrics.json), also that each split's units sum to
    its token count and NLL. `raw`: the file's bytes, read elsewhere (at a git revision); `path` then names it.
    `fix`: what a message tells the user to do (a file in a git commit cannot be deleted)."""
    if raw is None:
        raw = read_user_file(path, what=str(path), fix=fix, error=UnitsError)
    try:
        arrays = _read_arrays(raw, path, fix)
        meta = json.loads(str(arrays.pop("meta")))
        specs = meta["splits"]
    except UnitsError:
        raise
    except (ValueError, OSError, EOFError, KeyError, TypeError, zipfile.BadZipFile) as e:
        why = str(e).splitlines()[0][:80] if str(e) else type(e).__name__
        raise UnitsError(f"{path} is truncated or corrupt, not a unit scores file ({why}); {fix}") from None
    if meta.get("format") != FORMAT:
        raise UnitsError(f"{path} has format {meta.get('format')!r}, this lmladder reads {FORMAT}; {fix}")
    out = {}
    for split, spec in specs.items():
        got = {f: arrays.get(f"{split}_{f}") for f in FIELDS}
        bad = [f for f, a in got.items() if a is None or a.ndim != 1 or a.dtype != FIELDS[f]]
        if bad or len({a.shape for a in got.values()}) != 1 or np.isnan(got["nll"]).any() or (got["nll"] < 0).any():
            what = f"its {split}_{bad[0]} array is missing or mistyped" if bad else f"its {split} arrays disagree"
            raise UnitsError(f"{path} is corrupt ({what}); {fix}")
        out[split] = SplitUnits(**got, unit=str(spec["unit"]), digest=str(spec["digest"]))
    for split, u in out.items() if metrics else ():
        m = metrics.get(split) or {}
        nll, tokens = m.get("nll"), m.get("tokens")
        n = int(u.tokens.sum())
        if tokens is not None and n != tokens or nll is not None and not _close(u.mean_nll, float(nll)):
            raise UnitsError(
                f"{path} disagrees with its run's metrics.json: {split} units give NLL {u.mean_nll:.6f} over {n} "
                f"tokens, metrics.json {nll} over {tokens}; the files come from different scorings — {fix}"
            )
    return out


def _read_arrays(raw: bytes, path, fix: str) -> dict[str, np.ndarray]:
    """The .npy members of the zip `raw`, each allocated only when its header asks for no more than the member
    holds, and no member bigger than the file: a header that asks for terabytes was a MemoryError traceback (and
    one such file blocked a whole report); now it is named, whatever the file's size."""
    fmt = np.lib.format
    out = {}
    with zipfile.ZipFile(io.BytesIO(raw)) as z:
        for info in z.infolist():
            with z.open(info) as m:
                version = fmt.read_magic(m)
                header = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
                shape, _, dtype = header(m)
            need = math.prod(shape) * dtype.itemsize
            if info.file_size > len(raw) or need > info.file_size:
                raise UnitsError(
                    f"{path} is corrupt (its {info.filename} asks for {need:,} bytes of array in a {len(raw):,}-byte "
                    f"file); {fix}"
                )
            with z.open(info) as m:
                out[info.filename.removesuffix(".npy")] = fmt.read_array(m, allow_pickle=False)
    return out


def _close(a: float, b: float) -> bool:
    return a == b or math.isclose(a, b, rel_tol=NLL_RTOL)
