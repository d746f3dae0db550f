"""Fuzz `load_checkpoint` with mutated checkpoints: byte flips, truncations, header rewrites (shapes, dtypes, offsets,
names, metadata and the fields of our record in it), header-length rewrites, and inserted/appended/deleted bytes, one
to three at a time.

Oracle: the only exception ever raised is CheckpointError, and a file that does load has exactly the original names,
dtypes, shapes, bytes and meta (a mutation that changes nothing the header means, such as swapping a padding space for
a tab, may load; anything else must be caught by validation or by one of the two sha256 digests).

The example count is FUZZ_EXAMPLES (raise it with LMLADDER_FUZZ_EXAMPLES=N); run with `-s` to see the summary line.
"""

import json
import os
import re
import struct
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from lmladder.io import CheckpointError, load_checkpoint, read_checkpoint_meta, save_checkpoint
from lmladder.io.checkpoint import DTYPES

FUZZ_EXAMPLES = max(1000, int(os.environ.get("LMLADDER_FUZZ_EXAMPLES", "1000")))
FUZZ_REPORT: dict = {}  # filled by the test: examples, seconds, outcomes


def _bases():
    """Small real checkpoints (bytes, arrays, meta) to mutate: mixed dtypes, 0-d, empty, unicode, no arrays."""
    r = np.random.default_rng(0)
    meta = {"model": {"class": "GPT", "kwargs": {"n_layer": 1}}, "rng": {"state": 2**127 + 5}, "vocab": ["a", "é"]}
    cases = [
        (
            {
                "w": r.standard_normal((2, 3)).astype(np.float32),
                "ids": np.arange(4, dtype=np.int64),
                "mask": np.array([True, False, True]),
                "scale": np.array(0.5, np.float16),
                "empty": np.zeros((0, 2), np.uint8),
                "v": r.standard_normal(8).astype(np.float32),  # as many bytes as "ids": a swap keeps the layout valid
            },
            meta,
        ),
        ({"naïve.wëight": np.arange(5, dtype=np.float64), "b": np.arange(5, dtype=np.int64)}, {"step": 3}),
        ({}, {"only": "meta"}),
    ]
    out = []
    with tempfile.TemporaryDirectory() as d:
        for i, (arrays, m) in enumerate(cases):
            p = Path(d) / f"{i}.safetensors"
            save_checkpoint(p, arrays, m)
            out.append((p.read_bytes(), arrays, m))
    return out


BASES = _bases()

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=5), c, max_size=3),
    max_leaves=6,
)
INTS = st.integers(-2, 64) | st.sampled_from([2**31, 2**32 + 1, 2**62, 2**63, 2**64, 2**100])
FIELD_VALUES = {
    "dtype": st.sampled_from([*DTYPES, "BF16", "F8_E4M3", "f32", "", "COMPLEX"]) | JSON,
    "shape": st.lists(INTS, max_size=4) | st.lists(INTS, min_size=30, max_size=40) | JSON,
    "data_offsets": st.lists(INTS, max_size=3) | JSON,
    "extra": JSON,
}
META_TEXT = ["lmladder-checkpoint-v1", "lmladder-checkpoint-v2", "{}", "[]", "0" * 64, "f" * 64]
META_VALUES = st.text(max_size=70) | st.sampled_from(META_TEXT) | JSON.map(json.dumps)


def _split(raw):
    n = int.from_bytes(raw[:8], "little")
    return n, raw[8 : 8 + n], raw[8 + n :]


def _record(metadata):
    """The lmladder record (a dict) inside __metadata__, or None if an earlier mutation broke it."""
    try:
        record = json.loads(metadata["lmladder"])
    except Exception:
        return None
    return record if isinstance(record, dict) else None


def _rewrite_header(data, raw):
    n, head, rest = _split(raw)
    try:
        header = json.loads(head)
    except Exception:  # an earlier mutation broke it: nothing to rewrite
        return raw
    if not isinstance(header, dict) or not header:
        return raw
    key = data.draw(st.sampled_from(sorted(header)), label="key")
    entry = header[key]
    op = data.draw(st.sampled_from(["set", "del_field", "del_entry", "rename", "permute", "swap", "add"]), label="op")
    event(f"header op: {op}")
    if op == "set" and isinstance(entry, dict):
        if key == "__metadata__":  # its one entry, "lmladder", is a JSON record: set a field of it or an entry
            fields = ["format", "meta", "sha256", "header_sha256", "extra", "lmladder", "other"]
            field = data.draw(st.sampled_from(fields))
            value = data.draw(META_VALUES | JSON, label="value")
            record = _record(entry)
            if field in ("lmladder", "other") or record is None:
                entry[field] = value
            else:
                record[field] = value
                entry["lmladder"] = json.dumps(record, ensure_ascii=data.draw(st.booleans()))
        else:
            field = data.draw(st.sampled_from(sorted(FIELD_VALUES)))
            entry[field] = data.draw(FIELD_VALUES[field], label="value")
    elif op == "del_field" and isinstance(entry, dict) and entry:
        record = _record(entry) if key == "__metadata__" else None
        if record and data.draw(st.booleans()):
            del record[data.draw(st.sampled_from(sorted(record)))]
            entry["lmladder"] = json.dumps(record)
        else:
            del entry[data.draw(st.sampled_from(sorted(entry)))]
    elif op == "del_entry":
        del header[key]
    elif op == "rename":
        header[data.draw(st.text(max_size=6), label="name")] = header.pop(key)
    elif op == "permute" and isinstance(entry, dict) and isinstance(entry.get("shape"), list):
        entry["shape"] = data.draw(st.permutations(entry["shape"]))  # same size, different meaning
    elif op == "swap" and isinstance(entry, dict):
        other = header[data.draw(st.sampled_from(sorted(header)))]
        if isinstance(other, dict) and "data_offsets" in entry and "data_offsets" in other:
            entry["data_offsets"], other["data_offsets"] = other["data_offsets"], entry["data_offsets"]
    elif op == "add":
        header[data.draw(st.text(max_size=6))] = {f: data.draw(v) for f, v in FIELD_VALUES.items() if f != "extra"}
    compact = data.draw(st.booleans())
    new = json.dumps(header, separators=(",", ":") if compact else (", ", ": "), ensure_ascii=data.draw(st.booleans()))
    new = new.encode("utf-8", "surrogatepass")
    if data.draw(st.booleans()):
        new += b" " * (-len(new) % 8)
    length = n if data.draw(st.integers(0, 5)) == 0 else len(new)  # usually a consistent length field
    return struct.pack("<Q", length) + new + rest


KINDS = ["flip", "flip_header", "flip_header", "flip_data", "truncate", "header", "header", "header", "length",
         "append", "insert", "delete"]  # fmt: skip


def _mutate(data, raw):
    kind = data.draw(st.sampled_from(KINDS), label="kind")
    event(f"mutation: {kind}")
    size = len(raw)
    if kind.startswith("flip") and size:
        lo, hi = 0, size  # "flip": anywhere
        if kind != "flip":
            header_end = min(size, 8 + _split(raw)[0])
            lo, hi = (8, header_end) if kind == "flip_header" else (header_end, size)
        if hi <= lo:
            lo, hi = 0, size
        out = bytearray(raw)
        for _ in range(data.draw(st.sampled_from([1, 1, 1, 2, 4]))):
            # single-bit flips keep ASCII ASCII (so the header stays UTF-8 and reaches the deeper checks)
            xor = data.draw(st.sampled_from([1, 2, 4, 8, 16, 32, 64]) | st.integers(1, 255))
            out[data.draw(st.integers(lo, hi - 1))] ^= xor
        return bytes(out)
    if kind == "truncate":
        return raw[: data.draw(st.integers(0, max(size - 1, 0)))]
    if kind == "header":
        return _rewrite_header(data, raw)
    if kind == "length":
        n = _split(raw)[0]
        new = data.draw(st.integers(0, 2**64 - 1) | st.integers(max(n - 24, 0), min(n + 24, 2**64 - 1)), label="length")
        return struct.pack("<Q", new) + raw[8:]
    if kind == "append":
        return raw + data.draw(st.binary(min_size=1, max_size=64))
    pos = data.draw(st.integers(0, size))
    if kind == "insert":
        return raw[:pos] + data.draw(st.binary(min_size=1, max_size=16)) + raw[pos:]
    return raw[:pos] + raw[pos + data.draw(st.integers(1, 16)) :]  # delete


def _identical(arrays, expected):
    return list(arrays) == sorted(expected) and all(
        a.dtype == expected[k].dtype and a.shape == expected[k].shape and a.tobytes() == expected[k].tobytes()
        for k, a in arrays.items()
    )


def test_fuzz_mutated_checkpoints_raise_checkpoint_error_or_load_unchanged(tmp_path_factory):
    path = tmp_path_factory.mktemp("fuzz") / "model.safetensors"
    outcomes = Counter()

    @settings(
        max_examples=FUZZ_EXAMPLES,
        deadline=None,
        database=None,  # keep the repository free of .hypothesis/ folders
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(data=st.data(), base=st.sampled_from(range(len(BASES))))
    def fuzz(data, base):
        raw, arrays, meta = BASES[base]
        mutated = raw
        for _ in range(data.draw(st.sampled_from([1, 1, 1, 2, 3]), label="mutations")):
            mutated = _mutate(data, mutated)
        path.write_bytes(mutated)
        try:
            loaded, loaded_meta = load_checkpoint(path)
        except CheckpointError as exc:
            assert "\n" not in str(exc) and str(path) in str(exc)
            problem = re.sub(r"'[^']*'|\[[^]]*\]|-?\d+", "#", str(exc).split(": ", 1)[-1].split(";")[0])
            outcomes[f"error: {problem}"] += 1
            event(f"error: {problem}")
        else:
            assert _identical(loaded, arrays) and loaded_meta == meta, "a mutated checkpoint loaded different content"
            assert read_checkpoint_meta(path) == meta
            outcomes["loaded unchanged"] += 1
            event("loaded unchanged")

    start = time.perf_counter()
    fuzz()
    seconds = time.perf_counter() - start
    examples = sum(outcomes.values())
    errors = examples - outcomes["loaded unchanged"]
    FUZZ_REPORT.update(examples=examples, seconds=seconds, outcomes=dict(outcomes))
    print(f"\ncheckpoint fuzz: {examples} examples in {seconds:.1f}s; {errors} CheckpointError "
          f"({len(outcomes) - 1} kinds), {outcomes['loaded unchanged']} loaded unchanged")  # fmt: skip
    assert examples >= FUZZ_EXAMPLES
    assert len(outcomes) >= 10  # the mutations reach many different checks, not one early exit
