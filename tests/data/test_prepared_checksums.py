"""manifest.json: the sha256 of every prepared file, recorded at prepare and verified on every load (issue 32)."""

import hashlib
import json
import shutil

import numpy as np
import pytest

from lmladder.data import DataConfig, ensure_prepared, load_matching, load_prepared, prepare
from lmladder.data.errors import CorruptDataError, StaleDataError
from lmladder.data.manifest import MANIFEST

from ..shared_data import shared_file


@pytest.fixture
def names(tmp_path):
    """A small names corpus, its data config and a fresh prepared folder."""
    corpus = tmp_path / "names.txt"
    corpus.write_text("\n".join(shared_file("names.txt").read_text().splitlines()[:300]) + "\n")
    data = DataConfig(source="file", path=str(corpus))
    prepare(data, tmp_path / "prepared")
    return data, tmp_path / "prepared"


def test_the_manifest_lists_every_file_with_its_sha256(names):
    _, out = names
    sums = json.loads((out / MANIFEST).read_text())["sha256"]
    assert set(sums) == {"vocab.json", "stats.json", "train.npy", "val.npy", "test.npy"}
    for name, digest in sums.items():
        assert hashlib.sha256((out / name).read_bytes()).hexdigest() == digest
    load_prepared(out)  # verifies


def test_two_swapped_letters_in_the_vocabulary_are_refused(names):
    _, out = names
    vocab = json.loads((out / "vocab.json").read_text())
    vocab["chars"] = vocab["chars"].replace("ab", "ba", 1)  # still a valid tokenizer: only the hash can tell
    (out / "vocab.json").write_text(json.dumps(vocab, indent=2, ensure_ascii=False) + "\n")
    with pytest.raises(CorruptDataError, match=r"vocab.json does not match its sha256 in manifest.json.*; delete "):
        load_prepared(out)


def test_two_swapped_token_ids_are_refused(names):
    _, out = names
    ids = np.load(out / "train.npy")
    j = int(np.flatnonzero(ids != ids[1])[0])
    ids[[1, j]] = ids[[j, 1]]
    np.save(out / "train.npy", ids, allow_pickle=False)
    with pytest.raises(CorruptDataError, match=r"train.npy does not match its sha256"):
        load_prepared(out)


@pytest.mark.parametrize(
    "edit, match",
    [
        (lambda out: (out / MANIFEST).write_text("{not json"), "manifest.json is not a manifest of vocab.json"),
        (lambda out: (out / MANIFEST).write_text('{"sha256": {"../x": "0"}}'), "is not a manifest of"),
        (lambda out: shutil.copy(out / "val.npy", out / "extra.npy"), None),  # not a prepared file: ignored
    ],
)
def test_a_damaged_manifest_is_refused(names, edit, match):
    _, out = names
    edit(out)
    if match is None:
        load_prepared(out)
    else:
        with pytest.raises(CorruptDataError, match=match):
            load_prepared(out)


def test_a_split_added_after_prepare_is_refused(names):
    _, out = names
    sums = json.loads((out / MANIFEST).read_text())
    del sums["sha256"]["test.npy"]
    (out / MANIFEST).write_text(json.dumps(sums))
    with pytest.raises(CorruptDataError, match=r"test.npy is not listed in manifest.json"):
        load_prepared(out)


def test_an_old_folder_without_a_manifest_is_stale(names):
    data, out = names
    (out / MANIFEST).unlink()
    with pytest.raises(StaleDataError, match=r"prepared has no manifest.json \(prepared by an older lmladder"):
        load_matching(data, out)  # the DVC path names it: `dvc repro` prepares it again


def test_an_old_cache_entry_is_prepared_again_with_the_same_tokens(names, tmp_path):
    data, _ = names
    logs = []
    prep, path = ensure_prepared(data, prepared_dir=tmp_path / "none", cache_root=tmp_path / "cache", log=logs.append)
    before = {k: np.array(v) for k, v in prep.splits.items()}
    (path / MANIFEST).unlink()  # as an older lmladder left it
    prep, again = ensure_prepared(data, prepared_dir=tmp_path / "none", cache_root=tmp_path / "cache", log=logs.append)
    assert again == path and (path / MANIFEST).is_file() and len(logs) == 2
    assert all(np.array_equal(before[k], prep.splits[k]) for k in before)


def test_an_edited_prepared_folder_is_refused_not_passed_over(names, tmp_path):
    """A plain run falls back to the cache when data/prepared is for another config, never when it was edited."""
    data, out = names
    (out / "stats.json").write_text((out / "stats.json").read_text().replace('"tokens": ', '"tokens": 1'))
    with pytest.raises(CorruptDataError, match="stats.json does not match its sha256"):
        ensure_prepared(data, prepared_dir=out, cache_root=tmp_path / "cache")
    assert not (tmp_path / "cache").exists()


def test_find_prepared_looks_where_a_run_prepared_and_prepares_nothing(names, tmp_path):
    """`lmladder inspect` and `diff` find a run's data as its stage did: prepared_dir, else the cache entry."""
    from lmladder.data.store import find_prepared

    data, out = names
    assert find_prepared(data, prepared_dir=out, cache_root=tmp_path / "cache")[1] == out
    assert find_prepared(data, prepared_dir=tmp_path / "none", cache_root=tmp_path / "cache") is None
    assert not (tmp_path / "cache").exists()  # nothing prepared by looking
    _, path = ensure_prepared(data, prepared_dir=tmp_path / "none", cache_root=tmp_path / "cache")
    assert find_prepared(data, prepared_dir=tmp_path / "none", cache_root=tmp_path / "cache")[1] == path
    gone = DataConfig(source="file", path=str(tmp_path / "moved.txt"))
    assert find_prepared(gone, prepared_dir=tmp_path / "none", cache_root=tmp_path / "cache") is None
