"""Checkpoints: round trips for every dtype, interop with the reference safetensors package, and one clear
CheckpointError for every malformed file (including pickles, which must never be unpickled)."""

import ast
import hashlib
import json
import os
import pickle
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
from safetensors import safe_open
from safetensors.numpy import load_file, save_file

from lmladder import io as lio
from lmladder.io import CheckpointError, WriteError, load_checkpoint, read_checkpoint_meta, save_checkpoint
from lmladder.io import atomic as atomic_mod
from lmladder.io import checkpoint as ckpt_mod
from lmladder.io.checkpoint import DTYPES, FORMAT

META = {"model": {"class": "GPT", "kwargs": {"n_layer": 2, "n_embd": 32}}, "step": 7, "vocab": ["\n", "a", "é"]}


def _sample(code, shape, seed=0):
    r = np.random.default_rng(seed)
    dt = DTYPES[code]
    if code == "BOOL":
        return r.random(shape) < 0.5
    if dt.kind == "f":
        a = r.standard_normal(shape).astype(dt)
        if a.size >= 3:
            a.flat[:3] = [np.nan, np.inf, -np.inf]
        return a
    info = np.iinfo(dt)
    a = r.integers(info.min, info.max, size=shape, dtype=dt, endpoint=True)
    if a.size >= 2:
        a.flat[:2] = [info.min, info.max]
    return a


def _same(a, b):
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def _split(path):
    """(header dict, data bytes) of a checkpoint file."""
    raw = Path(path).read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    return json.loads(raw[8 : 8 + n]), raw[8 + n :]


def _write(path, header, data=b"", n=None):
    """Write a (possibly broken) safetensors file: header is a dict (JSON-encoded, padded) or raw bytes."""
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    Path(path).write_bytes(struct.pack("<Q", len(raw) if n is None else n) + raw + data)
    return path


def _record(header):
    """Our record: the JSON in the header's only metadata entry."""
    return json.loads(header["__metadata__"]["lmladder"])


def _rehash(header):
    """Recompute header_sha256 the way the spec says: canonical JSON of every tensor's name, dtype and shape plus the
    format tag and meta (not the byte offsets: they are the package's layout, not the header's meaning)."""
    record = _record(header)
    tensors = {k: [v["dtype"], v["shape"]] for k, v in header.items() if k != "__metadata__"}
    canon = {"format": record["format"], "meta": record["meta"], "tensors": tensors}
    canon = json.dumps(canon, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    record["header_sha256"] = hashlib.sha256(canon.encode()).hexdigest()
    header["__metadata__"]["lmladder"] = json.dumps(record)
    return header


def _data_sha256(arrays):
    """The spec's data digest: every tensor's little-endian C-order bytes, in name order, whatever the file layout."""
    return hashlib.sha256(b"".join(np.ascontiguousarray(arrays[k]).tobytes() for k in sorted(arrays))).hexdigest()


def _expect(path, fragment, loader=load_checkpoint):
    with pytest.raises(CheckpointError) as info:
        loader(path)
    msg = str(info.value)
    assert "\n" not in msg and str(path) in msg and fragment in msg, msg
    return msg


# ------------------------------------------------------------------------------------------------ round trips
@pytest.mark.parametrize("code", list(DTYPES))
@pytest.mark.parametrize("shape", [(2, 3), (), (0,), (3, 0, 2), (1, 1, 1, 5)])
def test_round_trip_every_dtype_and_shape(tmp_path, code, shape):
    arrays = {"x": _sample(code, shape), "y": _sample(code, (4,), seed=1)}
    save_checkpoint(tmp_path / "m.safetensors", arrays, META)
    loaded, meta = load_checkpoint(tmp_path / "m.safetensors")
    assert meta == META and list(loaded) == ["x", "y"]
    for name, a in arrays.items():
        b = loaded[name]
        assert _same(a, b), name
        assert b.flags.c_contiguous and b.flags.writeable and b.flags.owndata
    reference = load_file(str(tmp_path / "m.safetensors"))  # interop: the reference reader agrees
    assert all(_same(arrays[k], reference[k]) for k in arrays)


def test_meta_big_ints_unicode_nan_and_rng_state(tmp_path):
    rng = np.random.Generator(np.random.PCG64(1234))
    rng.standard_normal(10)
    meta = {
        "big": 2**127 + 5,
        "neg": -(2**200),
        "text": 'naïve 日本語 🚀 \u0000 "q" \\',
        "loss": float("nan"),
        "rng": rng.bit_generator.state,
        "nested": {"a": [1, 2.5, None, True, {"b": []}]},
    }
    save_checkpoint(tmp_path / "m.safetensors", {"ünï/cödé.weight": np.ones(2, np.float32)}, meta)
    arrays, back = load_checkpoint(tmp_path / "m.safetensors")
    assert back["big"] == 2**127 + 5 and type(back["big"]) is int and back["neg"] == -(2**200)
    assert back["text"] == meta["text"] and np.isnan(back["loss"]) and back["nested"] == meta["nested"]
    assert list(arrays) == ["ünï/cödé.weight"]
    resumed = np.random.Generator(np.random.PCG64())
    resumed.bit_generator.state = back["rng"]
    assert np.array_equal(resumed.standard_normal(5), rng.standard_normal(5))
    assert read_checkpoint_meta(tmp_path / "m.safetensors")["big"] == 2**127 + 5


def test_inputs_are_normalised_and_output_is_deterministic(tmp_path):
    base = np.arange(12, dtype=np.float64).reshape(3, 4)
    arrays = {"t": base.T, "f": np.asfortranarray(base), "be": base.astype(">f8"), "s": base[::2, ::3]}
    save_checkpoint(tmp_path / "a.safetensors", arrays, META)
    save_checkpoint(tmp_path / "b.safetensors", dict(reversed(list(arrays.items()))), dict(reversed(META.items())))
    raw = (tmp_path / "a.safetensors").read_bytes()
    assert raw == (tmp_path / "b.safetensors").read_bytes()  # same content -> same bytes (good for DVC)
    loaded, _ = load_checkpoint(tmp_path / "a.safetensors")
    for k, a in arrays.items():
        assert np.array_equal(loaded[k], a) and loaded[k].dtype == np.float64
    header, data = _split(tmp_path / "a.safetensors")
    (n,) = struct.unpack("<Q", raw[:8])
    assert n % 8 == 0
    offsets = sorted(v["data_offsets"] for k, v in header.items() if k != "__metadata__")
    assert offsets[0][0] == 0 and offsets[-1][1] == len(data)
    assert all(a[1] == b[0] for a, b in zip(offsets, offsets[1:], strict=False))  # contiguous, in any order
    # One metadata entry: the package writes several in a random order, which would make the bytes differ run to run.
    assert list(header["__metadata__"]) == ["lmladder"]
    record = _record(header)
    assert sorted(record) == ["format", "header_sha256", "meta", "sha256"]
    assert record["format"] == FORMAT and record["meta"] == META
    assert record["sha256"] == _data_sha256({k: a.astype("<f8") for k, a in arrays.items()})
    assert record["header_sha256"] == _record(_rehash(json.loads(json.dumps(header))))["header_sha256"]


def test_save_refuses_bad_input(tmp_path):
    p = tmp_path / "m.safetensors"
    cases = [
        ({"x": np.zeros(2, np.complex64)}, META, "dtype complex64"),
        ({"x": np.array(["a"])}, META, "which checkpoints do not support"),
        ({"x": np.array([object()])}, META, "dtype object"),
        ({"__metadata__": np.zeros(1)}, META, "invalid array names"),
        ({3: np.zeros(1)}, META, "invalid array names"),
        ({"x": np.zeros(1)}, ["not", "a", "dict"], "meta must be a dict"),
        ({"x": np.zeros(1)}, {"arr": np.zeros(2)}, "not JSON-serialisable"),
        ({"x": np.zeros(1)}, {"s": "\ud800"}, "not valid Unicode"),
    ]
    for arrays, meta, fragment in cases:
        with pytest.raises(CheckpointError, match=fragment):
            save_checkpoint(p, arrays, meta)
    assert not p.exists() and list(tmp_path.iterdir()) == []


def test_save_is_atomic(tmp_path, monkeypatch):
    p = tmp_path / "m.safetensors"
    save_checkpoint(p, {"w": np.ones(3, np.float32)}, {"step": 1})
    before = p.read_bytes()

    def disk_full(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomic_mod.os, "replace", disk_full)
    with pytest.raises(WriteError, match="free disk space"):
        save_checkpoint(p, {"w": np.zeros(1000, np.float32)}, {"step": 2})
    assert p.read_bytes() == before and [x.name for x in tmp_path.iterdir()] == ["m.safetensors"]


def test_meta_only_reader_skips_the_data_and_verify_false_skips_the_checksum(tmp_path):
    p = tmp_path / "m.safetensors"
    save_checkpoint(p, {"w": np.arange(4, dtype=np.int32)}, META)
    raw = bytearray(p.read_bytes())
    raw[-1] ^= 0xFF  # corrupt one data byte
    p.write_bytes(bytes(raw))
    assert read_checkpoint_meta(p) == META  # header only: the data is not read, so not hashed
    _expect(p, "checkpoint is corrupted (checksum mismatch); it was probably truncated or modified")
    arrays, _ = load_checkpoint(p, verify=False)
    assert arrays["w"][-1] != 3


# ------------------------------------------------------------------------------------------------ interop
def test_reference_writer_with_our_metadata_loads(tmp_path):
    tensors = {"b": np.arange(3, dtype=np.int64), "a": np.ones((2, 2), np.float16), "c": np.array([True])}
    p = str(tmp_path / "ref.safetensors")
    record = {"format": FORMAT, "meta": META, "sha256": "0" * 64, "header_sha256": "0" * 64}
    save_file(tensors, p, metadata={"lmladder": json.dumps(record)})
    _expect(p, "checkpoint header is corrupted (checksum mismatch)")
    # Both digests follow from the spec alone: the data's from the arrays, the header's from names, dtypes and shapes.
    record["sha256"] = _data_sha256(tensors)
    record["header_sha256"] = _record(_rehash(_split(p)[0]))["header_sha256"]
    save_file(tensors, p, metadata={"lmladder": json.dumps(record)})
    arrays, meta = load_checkpoint(p)
    assert meta == META and sorted(arrays) == ["a", "b", "c"]
    assert all(_same(arrays[k], tensors[k]) for k in tensors)
    # and what we write is exactly what the reference writer writes for our record
    save_checkpoint(tmp_path / "ours.safetensors", tensors, META)
    with safe_open(tmp_path / "ours.safetensors", framework="np") as f:
        ours = f.metadata()
    save_file(tensors, p, metadata=ours)
    assert Path(p).read_bytes() == (tmp_path / "ours.safetensors").read_bytes()


@pytest.mark.parametrize(
    "metadata,fragment",
    [
        (None, "has no format tag"),
        ({"format": "pt"}, "format tag 'pt'"),
        ({"format": "lmladder-checkpoint-v1", "lmladder": '{"step": 1}'}, "tag 'lmladder-checkpoint-v1', expected"),
    ],
)
def test_plain_safetensors_is_not_an_lmladder_checkpoint(tmp_path, metadata, fragment):
    p = str(tmp_path / "plain.safetensors")
    save_file({"w": np.zeros(3, np.float32)}, p, metadata=metadata)
    msg = _expect(p, "not an lmladder checkpoint")
    assert fragment in msg and "save_checkpoint" in msg
    _expect(p, "not an lmladder checkpoint", read_checkpoint_meta)


# ------------------------------------------------------------------------------------------------ malformed files
def test_missing_directory_fifo_short(tmp_path):
    _expect(tmp_path / "nope.safetensors", "no checkpoint at")
    _expect(tmp_path / "nope.safetensors", "train first or check the path", read_checkpoint_meta)
    (tmp_path / "file").write_text("x")
    _expect(tmp_path / "file" / "m.safetensors", "no checkpoint at")
    _expect(tmp_path, "is a directory")
    if hasattr(os, "mkfifo"):
        os.mkfifo(tmp_path / "fifo")
        _expect(tmp_path / "fifo", "is a FIFO (named pipe), not a regular file")  # and it did not block on open
    os.symlink(tmp_path / "loop_b", tmp_path / "loop_a")
    os.symlink(tmp_path / "loop_a", tmp_path / "loop_b")
    _expect(tmp_path / "loop_a", "is a symlink loop, not a regular file")
    _expect(Path("/dev/zero"), "is a character device, not a regular file")
    for raw in [b"", b"\x08", b"\x08\x00\x00\x00\x00\x00\x00"]:
        (tmp_path / "short").write_bytes(raw)
        _expect(tmp_path / "short", "too short")


def test_unreadable_file(tmp_path, monkeypatch):
    p = tmp_path / "m.safetensors"
    save_checkpoint(p, {}, {})

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(ckpt_mod, "open", denied, raising=False)  # shadows the builtin inside the module
    assert "Permission denied" in _expect(p, "check permissions of the file")


def test_header_length_field(tmp_path):
    save_checkpoint(tmp_path / "m.safetensors", {"w": np.ones(2, np.float32)}, META)
    header, data = _split(tmp_path / "m.safetensors")
    size = len(_write(tmp_path / "a", header, data).read_bytes())
    _expect(_write(tmp_path / "a", header, data, n=size - 7), "is larger than the file")
    _expect(_write(tmp_path / "b", header, data, n=2**64 - 8), "exceeds the 100000000-byte limit")
    big = tmp_path / "big"
    with open(big, "wb") as f:  # a sparse 100 MB+ file: a header this long is refused before it is read
        f.write(struct.pack("<Q", 100_000_008) + b"{")
        f.truncate(8 + 100_000_008)
    _expect(big, "exceeds the 100000000-byte limit")
    _expect(_write(tmp_path / "c", header, data, n=0), "header is not valid JSON")


def _base(tmp_path):
    p = tmp_path / "base.safetensors"
    save_checkpoint(p, {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.arange(2, dtype=np.int64)}, META)
    return _split(p)


def _set(path, value):
    """A mutation that sets header[path[0]][path[1]]... = value (or deletes it when value is DEL)."""

    def mutate(h, d):
        *parents, last = path
        node = h
        for key in parents:
            node = node[key]
        if value is DEL:
            del node[last]
        else:
            node[last] = value
        return h, d

    return mutate


def _rec(key, value):
    """A mutation of our record (the JSON in __metadata__["lmladder"]): record[key] = value, or delete it (DEL)."""

    def mutate(h, d):
        record = json.loads(h[MD]["lmladder"])
        if value is DEL:
            del record[key]
        else:
            record[key] = value
        h[MD]["lmladder"] = json.dumps(record)
        return h, d

    return mutate


def _chain(*mutations):
    def mutate(h, d):
        for m in mutations:
            h, d = m(h, d)
        return h, d

    return mutate


DEL = object()
MD = "__metadata__"

MALFORMED = {
    "not utf-8": (lambda h, d: (b'{"a": "\xff\xfe"}', d), "header is not valid UTF-8"),
    "not json": (lambda h, d: (b"{not json}", d), "header is not valid JSON"),
    "nan in json": (lambda h, d: (b'{"a": NaN}', d), "header is not valid JSON"),
    "duplicate key": (lambda h, d: (b'{"a": 1, "a": 2}', d), "duplicate key"),
    "deep nesting": (lambda h, d: (b"{" + b'"a":[' * 100000 + b"]" * 100000 + b"}", d), "not valid JSON"),
    "not an object": (lambda h, d: (b"[1, 2, 3]", d), "header is a JSON list, not an object"),
    "metadata not a map": (_set([MD], ["x"]), "__metadata__ is not a map of strings to strings"),
    "metadata value not str": (_set([MD, "step"], 3), "__metadata__ is not a map of strings to strings"),
    "no format tag": (_rec("format", DEL), "not an lmladder checkpoint (it has no format tag)"),
    "wrong format tag": (_rec("format", "lmladder-checkpoint-v0"), "not an lmladder checkpoint"),
    "no lmladder entry": (_set([MD, "lmladder"], DEL), "not an lmladder checkpoint (it has no format tag)"),
    "entry not object": (_set(["a"], [1, 2]), "is not an object with exactly dtype, shape and data_offsets"),
    "entry missing field": (_set(["a", "dtype"], DEL), "exactly dtype, shape and data_offsets"),
    "entry extra field": (_set(["a", "stride"], [1]), "exactly dtype, shape and data_offsets"),
    "unknown dtype": (_set(["a", "dtype"], "BF16"), "unknown dtype 'BF16'"),
    "dtype not str": (_set(["a", "dtype"], 4), "unknown dtype 4"),
    "shape not list": (_set(["a", "shape"], "2,3"), "invalid shape '2,3'"),
    "shape negative": (_set(["a", "shape"], [-2, -3]), "invalid shape"),
    "shape float": (_set(["a", "shape"], [2.0, 3]), "invalid shape"),
    "shape bool": (_set(["a", "shape"], [True, 6]), "invalid shape"),
    "shape too many dims": (_set(["a", "shape"], [1] * 33), "invalid shape"),
    "shape impossibly large": (_set(["a", "shape"], [0, 2**62, 2**62]), "impossibly large shape"),
    "shape size mismatch": (_set(["a", "shape"], [2, 4]), "spans 24 bytes but shape [2, 4] of F32 needs 32"),
    "offsets one int": (_set(["a", "data_offsets"], [0]), "invalid data_offsets"),
    "offsets str": (_set(["a", "data_offsets"], [0, "24"]), "invalid data_offsets"),
    "offsets bool": (_set(["a", "data_offsets"], [False, 24]), "invalid data_offsets"),
    "offsets negative": (_set(["a", "data_offsets"], [-1, 23]), "invalid data_offsets"),
    "offsets reversed": (_set(["a", "data_offsets"], [24, 0]), "end before begin"),
    "offsets size mismatch": (_set(["a", "data_offsets"], [0, 20]), "spans 20 bytes"),
    "offsets overlap": (
        _chain(_set(["b", "data_offsets"], [0, 16]), _set(["a", "data_offsets"], [8, 32])),
        "overlap at tensor 'a' (byte 8, expected 16)",
    ),
    "offsets gap": (
        _chain(
            _set(["b", "data_offsets"], [0, 16]), _set(["a", "data_offsets"], [24, 48]), lambda h, d: (h, d + bytes(8))
        ),
        "gap before tensor 'a' (byte 24, expected 16)",
    ),
    "beyond buffer": (lambda h, d: (h, d[:-1]), "ends at byte 40 but the data buffer has 39; the file was cut short"),
    "huge tensor, tiny file": (
        _chain(_set(["a", "shape"], [2**40]), _set(["a", "data_offsets"], [0, 4 * 2**40])),
        "ends",
    ),
    "trailing bytes": (lambda h, d: (h, d + b"junk"), "4 unexpected bytes after the last tensor"),
    "lmladder not json": (_set([MD, "lmladder"], "{step: 1}"), "lmladder metadata is not valid JSON"),
    "lmladder not object": (_set([MD, "lmladder"], "[1]"), "lmladder metadata is a JSON list, not an object"),
    "no meta": (_rec("meta", DEL), "lmladder metadata has no 'meta' object"),
    "meta not object": (_rec("meta", [1]), "lmladder metadata has no 'meta' object"),
    "extra record entry": (
        _rec("x", 1),
        "lmladder metadata has entries ['format', 'header_sha256', 'meta', 'sha256', 'x']",
    ),
    "no sha256": (_rec("sha256", DEL), "no valid sha256"),
    "bad sha256": (_rec("sha256", "ABC"), "no valid sha256"),
    "sha256 not str": (_rec("sha256", 5), "no valid sha256"),
    "bad header_sha256": (_rec("header_sha256", "xyz"), "no valid header_sha256"),
    "no header_sha256": (_rec("header_sha256", DEL), "no valid header_sha256"),
    "shape swapped": (_set(["a", "shape"], [3, 2]), "checkpoint header is corrupted (checksum mismatch)"),
    "dtype swapped": (_set(["a", "dtype"], "I32"), "checkpoint header is corrupted (checksum mismatch)"),
    "meta edited": (_rec("meta", {"step": 8}), "checkpoint header is corrupted (checksum mismatch)"),
    "data flipped": (lambda h, d: (h, bytes([d[0] ^ 1]) + d[1:]), "checkpoint is corrupted (checksum mismatch)"),
}
HEADER_ONLY = {"data flipped"}  # read_checkpoint_meta does not read the data, so it cannot see this one


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed(tmp_path, case):
    mutate, fragment = MALFORMED[case]
    header, data = mutate(*_base(tmp_path))
    p = _write(tmp_path / "bad.safetensors", header, data)
    _expect(p, fragment)
    if case not in HEADER_ONLY:
        _expect(p, fragment, read_checkpoint_meta)


def test_bool_bytes_other_than_0_and_1(tmp_path):
    save_checkpoint(tmp_path / "m.safetensors", {"m": np.array([True, False, True])}, META)
    header, data = _split(tmp_path / "m.safetensors")
    data = b"\x01\x02\x01"
    header, _ = _rec("sha256", hashlib.sha256(data).hexdigest())(header, data)
    _expect(_write(tmp_path / "b.safetensors", header, data), "bool bytes other than 0 and 1")


def test_rehashed_header_edit_is_accepted(tmp_path):
    """The header digest is over the header's meaning, so a consistent rewrite (a new tool's output) still loads."""
    header, data = _base(tmp_path)
    header["a"]["shape"] = [3, 2]
    _write(tmp_path / "r.safetensors", _rehash(header), data)
    arrays, _ = load_checkpoint(tmp_path / "r.safetensors")
    assert arrays["a"].shape == (3, 2)


def test_the_package_refusing_or_the_file_changing_is_a_checkpoint_error(tmp_path, monkeypatch):
    # A lone surrogate in a name: Python's JSON reads it, the package's reader does not.
    header, data = _base(tmp_path)
    header["\ud800"] = header.pop("a")
    text = json.dumps(_rehash(header)).encode()
    msg = _expect(_write(tmp_path / "s.safetensors", text, data), "the safetensors reader refused it (")
    assert "hex escape" in msg
    # The file is replaced between our header check and the package's read (same names, another shape; cut short).
    p = tmp_path / "m.safetensors"
    real_open = ckpt_mod.safe_open
    for replacement, fragment in [
        (
            lambda q: save_checkpoint(q, {"a": np.zeros(6, np.float32)}, META),
            "the file changed while it was being read",
        ),
        (lambda q: q.write_bytes(q.read_bytes()[:-4]), "the safetensors reader refused it ("),
    ]:
        save_checkpoint(p, {"a": np.zeros((2, 3), np.float32)}, META)

        def replaced_then_opened(path, replacement=replacement, **kwargs):
            replacement(Path(path))
            return real_open(path, **kwargs)

        monkeypatch.setattr(ckpt_mod, "safe_open", replaced_then_opened)
        _expect(p, fragment)


# ------------------------------------------------------------------------------------------------ never unpickle
def _make_marker(path):
    Path(path).write_text("unpickled!")
    return "payload"


class _Bomb:
    """Unpickling this creates a marker file: proof that a loader ran pickle."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return _make_marker, (self.marker,)


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_pickle_renamed_to_safetensors_is_refused_unopened(tmp_path, protocol):
    probe = tmp_path / "probe"
    assert pickle.loads(pickle.dumps(_Bomb(probe), protocol)) == "payload" and probe.exists()  # the bomb is live
    marker = tmp_path / "marker"
    p = tmp_path / "model.safetensors"
    p.write_bytes(pickle.dumps({"weights": _Bomb(marker), "step": 3}, protocol))
    _expect(p, "looks like a pickle/PyTorch file; lmladder never unpickles files — convert it to safetensors")
    _expect(p, "looks like a pickle/PyTorch file", read_checkpoint_meta)
    assert not marker.exists()


def test_zip_and_legacy_torch_files_are_refused(tmp_path):
    p = tmp_path / "model.safetensors"
    with zipfile.ZipFile(p, "w") as z:  # the layout of torch.save since PyTorch 1.6
        z.writestr("archive/data.pkl", pickle.dumps({"w": 1}, 2))
    _expect(p, "looks like a pickle/PyTorch file")
    p.write_bytes(pickle.dumps(0x1950A86A20F9469CFC6C, 2) + b"\x00" * 64)  # legacy torch.save: magic pickle + blobs
    _expect(p, "looks like a pickle/PyTorch file")


def test_io_package_never_unpickles_or_evaluates():
    banned_modules = {"pickle", "cPickle", "dill", "cloudpickle", "joblib", "marshal", "shelve", "torch"}
    for path in Path(lio.__file__).parent.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                assert not {a.name.split(".")[0] for a in node.names} & banned_modules, path
            elif isinstance(node, ast.ImportFrom):
                assert (node.module or "").split(".")[0] not in banned_modules, path
            elif isinstance(node, ast.Call):
                assert not any(k.arg == "allow_pickle" for k in node.keywords), path
                assert not (isinstance(node.func, ast.Name) and node.func.id in {"eval", "exec"}), path
            elif isinstance(node, ast.Attribute):
                assert node.attr not in {"load", "loads"} or getattr(node.value, "id", "") == "json", path
