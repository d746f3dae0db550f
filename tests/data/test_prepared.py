"""Prepared data: file layout, stats, validation on load, and atomic replacement of the output directory."""

import json

import numpy as np
import pytest

from lmladder.data import CharTokenizer, DataError, atomic_directory, load_prepared, load_source, prepare_corpus
from lmladder.data.manifest import write_manifest
from lmladder.errors import LmladderError
from lmladder.io import WriteError


def test_names_layout_and_stats(names_prepared):
    p = names_prepared
    assert p.kind == "lines" and p.boundary_id == 0 and p.vocab_size == 27
    assert set(p.splits) == {"train", "val", "test"}
    for name, n in {"train": 182_625, "val": 22_655, "test": 22_866}.items():
        a = p.splits[name]
        assert isinstance(a, np.memmap) and a.dtype == np.uint8 and a.ndim == 1 and not a.flags.writeable
        assert a[0] == a[-1] == 0 and len(a) - 1 == n
        assert p.stats["splits"][name]["predicted_tokens"] == n
    s = p.stats["splits"]
    assert s["train"]["lines"] + s["val"]["lines"] + s["test"]["lines"] == 32_033
    assert p.stats["unk_count"] == {"train": 0, "val": 0, "test": 0} and p.stats["unk_token"] is None
    assert p.tokenizer.decode(p.splits["val"][:1]) == "\n"


def test_shakespeare_layout(shakespeare_prepared):
    p = shakespeare_prepared
    assert p.kind == "stream" and p.boundary_id is None and p.vocab_size == 65 and set(p.splits) == {"train", "val"}
    assert [len(p.splits[k]) for k in ("train", "val")] == [1_003_854, 111_540]
    assert p.stats["sha256"] == "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"
    assert p.tokenizer.decode(p.splits["train"][:14]) == "First Citizen:"


def test_unknown_val_chars_get_unk(tmp_path):
    text = "".join(f"{w}\n" for w in ["ab", "ba", "abc", "bab", "aab", "bba", "aaa", "bbb", "zz", "ab"])
    stats = prepare_corpus(text, kind="lines", tokenizer="char", fractions=(0.5, 0.5), split_seed=0, out_dir=tmp_path)
    p = load_prepared(tmp_path)
    assert "test" not in p.splits and stats["unk_token"] == "\ufffd"
    assert stats["unk_count"]["train"] == 0 and stats["unk_count"]["val"] == (p.splits["val"] == p.vocab_size - 1).sum()
    assert sum(stats["unk_count"].values()) > 0


def test_byte_tokenizer_takes_raw_bytes_and_uint16_for_big_vocab(tmp_path):
    prepare_corpus(b"caf\xe9 au lait\n" * 20, kind="stream", tokenizer="byte", out_dir=tmp_path / "b")
    b = load_prepared(tmp_path / "b")
    assert b.vocab_size == 256 and b.splits["train"].dtype == np.uint8 and b.splits["train"][3] == 0xE9
    prepare_corpus(b"x\ny\nz\nw\n", kind="lines", tokenizer="byte", fractions=(0.5, 0.5), out_dir=tmp_path / "bl")
    assert load_prepared(tmp_path / "bl").boundary_id == 10
    text = "".join(chr(0x4E00 + i) for i in range(300))
    prepare_corpus(text * 2, kind="stream", tokenizer="char", fractions=(0.5, 0.5), out_dir=tmp_path / "big")
    big = load_prepared(tmp_path / "big")
    assert big.vocab_size == 300 and big.splits["val"].dtype == np.uint16
    assert big.tokenizer.decode(big.splits["val"]) == text


def test_prepare_errors(tmp_path):
    with pytest.raises(DataError, match="kind='doc' is unknown"):
        prepare_corpus("a\n", kind="doc", tokenizer="char", out_dir=tmp_path)
    with pytest.raises(DataError, match="tokenizer='wordpiece' is unknown"):
        prepare_corpus("abcdefghij" * 5, kind="stream", tokenizer="wordpiece", out_dir=tmp_path)
    with pytest.raises(DataError, match="data.bpe.vocab_size=1024 is more than the train split can merge"):
        prepare_corpus("abcdefghij" * 5, kind="stream", tokenizer="bpe", out_dir=tmp_path)
    with pytest.raises(DataError, match="tokenizer=char needs text"):
        prepare_corpus(b"abcdefghij" * 5, kind="stream", tokenizer="char", out_dir=tmp_path)


def test_prepare_failure_leaves_previous_output_intact(tmp_path, monkeypatch):
    out = tmp_path / "prepared"
    prepare_corpus("abcdefghij" * 10, kind="stream", tokenizer="char", out_dir=out)
    before = {f.name: f.read_bytes() for f in out.iterdir()}
    real_save, calls = np.save, []

    def flaky_save(*args, **kwargs):
        calls.append(args[0])
        if len(calls) > 1:
            raise OSError("disk full")
        real_save(*args, **kwargs)

    monkeypatch.setattr(np, "save", flaky_save)
    with pytest.raises(OSError, match="disk full"):
        prepare_corpus("zyxwvutsrq" * 10, kind="stream", tokenizer="char", out_dir=out)
    assert {f.name: f.read_bytes() for f in out.iterdir()} == before
    assert [f.name for f in tmp_path.iterdir()] == ["prepared"]  # no temporary directory left behind
    monkeypatch.setattr(np, "save", real_save)
    prepare_corpus("zyxwvutsrq" * 10, kind="stream", tokenizer="char", out_dir=out)
    assert load_prepared(out).tokenizer.decode(load_prepared(out).splits["train"][:3]) == "zyx"
    assert [f.name for f in tmp_path.iterdir()] == ["prepared"]  # the old directory was removed after the swap


def test_atomic_directory_creates_and_refuses_files(tmp_path):
    with atomic_directory(tmp_path / "a" / "b") as tmp:
        (tmp / "f.txt").write_text("x")
    assert (tmp_path / "a" / "b" / "f.txt").read_text() == "x"
    (tmp_path / "file").write_text("")
    with pytest.raises(WriteError, match="is not a directory"), atomic_directory(tmp_path / "file"):
        pass


def test_load_prepared_validates(tmp_path, names_prepared):
    """The checks behind the checksums: each edit is re-sealed (manifest rewritten), as a careless tool might."""
    with pytest.raises(DataError, match=r"prepared data not found.*dvc repro prepare.*stages/prepare.py"):
        load_prepared(tmp_path / "none")
    out = tmp_path / "p"
    prepare_corpus("abcdefghij" * 10, kind="stream", tokenizer="char", out_dir=out)
    (out / "val.npy").unlink()
    with pytest.raises(DataError, match=r"lacks val.npy; delete .*p \(the next run or `dvc repro` prepares it"):
        load_prepared(out)
    write_manifest(out)
    with pytest.raises(DataError, match=r"lacks val.npy; run `dvc repro prepare`"):
        load_prepared(out)
    np.save(out / "val.npy", np.array([[1, 2]], dtype=np.uint8))
    write_manifest(out)
    with pytest.raises(DataError, match=r"holds uint8 \(1, 2\), expected non-empty 1-D"):
        load_prepared(out)
    np.save(out / "val.npy", np.array([1, 99], dtype=np.uint8))
    write_manifest(out)
    with pytest.raises(DataError, match="token id 99 >= vocab size 10"):
        load_prepared(out)
    np.save(out / "val.npy", np.array([None, 1], dtype=object), allow_pickle=True)
    write_manifest(out)
    with pytest.raises(DataError, match=r"cannot read .*val.npy"):
        load_prepared(out)  # object arrays need pickle, which is never allowed
    np.save(out / "val.npy", np.array([1, 2], dtype=np.uint8))
    (out / "vocab.json").write_text("{not json")
    write_manifest(out)
    with pytest.raises(DataError, match="vocab.json is not valid JSON"):
        load_prepared(out)
    (out / "vocab.json").write_text(json.dumps({"type": "char", "chars": "abcdefghij", "kind": "lines"}))
    write_manifest(out)
    with pytest.raises(DataError, match="kind='lines', boundary_id=None"):
        load_prepared(out)


@pytest.mark.parametrize(
    "call",
    [
        lambda d: load_prepared(d / "missing"),
        lambda d: prepare_corpus("a\n\nb\n", kind="lines", tokenizer="char", out_dir=d),
        lambda d: prepare_corpus("ab\ncd\n", kind="lines", tokenizer="char", fractions=(0.9, 0.2), out_dir=d),
        lambda d: CharTokenizer(list("ab")).encode("a\nb"),
        lambda d: load_source("file", path=d / "nope\nnewline.txt"),
    ],
)
def test_errors_are_one_line_lmladder_errors(tmp_path, call):
    with pytest.raises(LmladderError) as info:
        call(tmp_path)
    assert isinstance(info.value, DataError) and isinstance(info.value, ValueError)
    assert "\n" not in str(info.value)


TALE = "It was the best of times, it was the worst of times; naïve café.\n" * 40


@pytest.mark.parametrize("tokenizer", ["char", "byte", "word", "bpe"])
def test_every_tokenizer_records_the_text_its_predictions_cover(tmp_path, tokenizer):
    """predicted chars/bytes are the same for every tokenizer of one text: bits per char compare across them."""
    text = TALE + "An unseen tail.\n"
    stats = prepare_corpus(
        text, kind="stream", tokenizer=tokenizer, vocab_size=280, fractions=[0.9, 0.1], out_dir=tmp_path / tokenizer
    )
    data = load_prepared(tmp_path / tokenizer)
    n = int(0.9 * len(text))
    for split, part in (("train", text[:n]), ("val", text[n:])):
        s = stats["splits"][split]
        first = data.tokenizer.decode(data.splits[split][:1])
        assert s["predicted_chars"] == len(part) - len(first)
        assert s["predicted_bytes"] == len(part.encode()) - len(first.encode())
    assert stats["tokenizer_label"] == {"bpe": "bpe-280/gpt4", "word": "word/min1"}.get(tokenizer, tokenizer)


def test_word_and_bpe_vocabularies_come_from_train_only(tmp_path):
    text = TALE + "Zebras quagga.\n" * 5
    word = prepare_corpus(text, kind="stream", tokenizer="word", fractions=[0.9, 0.1], out_dir=tmp_path / "w")
    tok = load_prepared(tmp_path / "w").tokenizer
    assert "Zebras" not in tok.stoi and word["unk_count"]["val"] > 0
    assert word["splits"]["val"]["unk_rate"] == word["unk_count"]["val"] / word["splits"]["val"]["tokens"]
    prepare_corpus(text, kind="stream", tokenizer="bpe", vocab_size=280, fractions=[0.9, 0.1], out_dir=tmp_path / "b")
    bpe = load_prepared(tmp_path / "b")
    assert bpe.tokenizer.decode(bpe.splits["val"]) == text[int(0.9 * len(text)) :]  # unseen words still encode
    assert all(b"Zebra" not in bpe.tokenizer.token_bytes(i) for i in range(bpe.vocab_size - 1))


def test_bpe_lines_corpus_uses_endoftext_as_boundary(tmp_path):
    names = "\n".join(["anna", "annabel", "bob", "bobby", "hannah", "anne"] * 20)
    prepare_corpus(names, kind="lines", tokenizer="bpe", vocab_size=270, out_dir=tmp_path)
    data = load_prepared(tmp_path)
    assert data.boundary_id == 269 == data.vocab_size - 1
    train = data.splits["train"]
    assert train[0] == train[-1] == data.boundary_id and train.dtype == np.uint16
    assert data.tokenizer.decode(train).strip("\n").split("\n")[0] in {
        "anna",
        "annabel",
        "bob",
        "bobby",
        "hannah",
        "anne",
    }
