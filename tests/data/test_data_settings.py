"""The data settings have the shape of the code (issue 71, its data half): a source's and a tokenizer's own settings
are a block named after it (data.babynames, data.bpe, data.word), set only with that choice (rules.check_used); each
old flat key fails in one line naming its new one (config.renames("data")), on the command line and in a preset;
a data config recorded before the blocks (a checkpoint's, a prepared folder's) still names the same corpus; and the
prepared token ids are the bits the flat settings gave."""

import hashlib
import io
import json
import re
import shutil
import tokenize
from dataclasses import asdict, fields
from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_dir

import lmladder
from lmladder.config import ConfigError, check_overrides, renames, validate
from lmladder.data import DataConfig, DataError, prepare
from lmladder.data.config import RENAMED, from_stored
from lmladder.data.store import find_prepared
from lmladder.io import read_checkpoint_meta
from lmladder.models.base import ModelConfigError
from lmladder.training.run import same_split

from ..shared_data import shared_file

ROOT = Path(__file__).resolve().parents[2]
SRC = Path(lmladder.__file__).parent
X_ONLY = re.compile(r"(^|\()\s*[A-Za-z][\w .'-]{0,40}\bonly\b\s*($|[:),])")  # "babynames only", "(bpe only)"
OLD = ROOT / "tests" / "fixtures" / "gpt" / "lookback.safetensors"  # data settings recorded in the flat keys


def _comments(path: Path) -> list[str]:
    if path.suffix == ".py":
        tokens = tokenize.generate_tokens(io.StringIO(path.read_text()).readline)
        return [t.string[1:] for t in tokens if t.type == tokenize.COMMENT]
    return [line.split("#", 1)[1] for line in path.read_text().splitlines() if "#" in line]


@pytest.mark.parametrize(
    "path",
    [*sorted((SRC / "data").rglob("*.py")), *sorted((ROOT / "conf" / "data").glob("*.yaml"))],
    ids=lambda p: p.name,
)
def test_no_data_setting_is_told_apart_by_an_x_only_comment(path):
    assert not [c for c in _comments(path) if X_ONLY.search(c)]
    assert X_ONLY.search(" babynames only") and X_ONLY.search(" bpe only")


def test_each_choice_reads_its_own_block():
    DataConfig(tokenizer="bpe", bpe={"vocab_size": 300, "pattern": "gpt2"}).check()
    DataConfig(tokenizer="word", word={"min_count": 3}).check()
    DataConfig(babynames={"year": 1990}).check()
    cases = {
        r"^bpe.vocab_size=300 is read with tokenizer=bpe only, and tokenizer='char'": dict(bpe={"vocab_size": 300}),
        r"^word.min_count=2 is read with tokenizer=word only, and tokenizer='bpe'": dict(
            tokenizer="bpe", word={"min_count": 2}
        ),
        r"^babynames.year=1990 is read with source=babynames only, and source='file'": dict(
            source="file", path="x.txt", babynames={"year": 1990}
        ),
    }
    for message, kw in cases.items():
        with pytest.raises(DataError, match=message):
            DataConfig(**kw).check()


def test_the_config_says_the_refusal_in_its_keys():
    with pytest.raises(ConfigError, match=r"^data.bpe.pattern='gpt2' is read with data.tokenizer=bpe only, and "
                       r"data.tokenizer='word': it would change nothing; set data.tokenizer=bpe"):  # fmt: skip
        validate({"data": {"tokenizer": "word", "bpe": {"pattern": "gpt2"}}})
    with pytest.raises(ConfigError, match=r"^config: 'data.word' is a group of settings \(min_count\), not a value"):
        validate({"data": {"word": 2}})


@pytest.mark.parametrize("old", sorted(RENAMED))
def test_every_renamed_key_fails_in_one_line_naming_its_new_one(old):
    new = RENAMED[old][0]
    assert renames("data")[old][0] == new
    with pytest.raises(ConfigError) as e:  # in a config (a preset, params.yaml)
        validate({"data": {old: 2}})
    assert str(e.value).startswith(f"data.{old} is now data.{new} (") and "\n" not in str(e.value)
    for arg in (f"data.{old}=2", f"+data.{old}=2", f"~data.{old}"):  # on the command line, before Hydra composes it
        with pytest.raises(ConfigError, match=rf"^data.{old} is now data.{new} \(.*\); rename it in your config$"):
            check_overrides([arg])
    group, key = new.split(".")  # the new key is a setting: its message sends nobody to a key that fails
    assert key in {f.name for f in fields(getattr(DataConfig(), group))}


def test_an_old_key_in_a_preset_is_refused(tmp_path):
    conf = shutil.copytree(ROOT / "conf", tmp_path / "conf")
    (conf / "data" / "old.yaml").write_text("defaults:\n  - base\n  - _self_\n\ntokenizer: bpe\nvocab_size: 512\n")
    with initialize_config_dir(config_dir=str(conf), version_base=None):
        cfg = compose(config_name="config", overrides=["data=old"])
    with pytest.raises(ConfigError, match=r"^data.vocab_size is now data.bpe.vocab_size \("):
        validate(cfg)


def test_a_data_config_recorded_before_the_blocks_names_the_same_corpus(tmp_path):
    stored = read_checkpoint_meta(OLD)["data"]
    assert {"year", "vocab_size", "bpe_pattern", "min_count"} <= set(stored)  # the fixture's flat keys
    data = DataConfig(**from_stored(stored))
    data.check()
    assert data == DataConfig(
        name="names_txt", source="file", path=stored["path"], url=stored["url"], sha256=stored["sha256"]
    )
    assert from_stored(stored) == asdict(data)  # so a study's runs of before and after are one corpus
    assert from_stored(asdict(data)) == asdict(data)
    same_split("mlp", stored, asdict(data), "old.safetensors")  # the same split: no refusal
    with pytest.raises(ModelConfigError, match=r"was trained with data.babynames=\{'year': 2017\}"):
        same_split("mlp", {**stored, "source": "babynames"}, asdict(DataConfig(babynames={"year": 1999})), "x")
    # what `lmladder diff` / `inspect` do with an old checkpoint: find its prepared data from its recorded settings
    copy = DataConfig(**{**from_stored(stored), "path": str(shared_file("names.txt"))})
    prepare(copy, tmp_path / "prepared")
    found = find_prepared(copy, prepared_dir=tmp_path / "prepared", cache_root=tmp_path / "cache")
    assert found is not None and found[1] == tmp_path / "prepared"


# sha256 of the prepared arrays and vocab.json of each corpus below, as lmladder b65053d (the flat data settings:
# data.vocab_size, data.bpe_pattern, data.min_count, data.year) prepared them
BEFORE = {
    "bpe": "3a7f51f34222dd4aa59debb6428c2724ed8180d178164ebcbe645e1349193195",
    "word": "69b3d76f174ca5050ea22fca1366069bb8d93a1163ad078fda4a19ec3aa59c86",
}


def _prepared_digest(folder: Path) -> str:
    h = hashlib.sha256()
    for f in sorted(folder.glob("*.npy")):
        a = np.load(f)
        h.update(f.name.encode() + a.dtype.str.encode() + a.tobytes())
    h.update(json.dumps(json.loads((folder / "vocab.json").read_text()), sort_keys=True).encode())
    return h.hexdigest()


def test_the_prepared_token_ids_are_the_bits_the_flat_settings_gave(tmp_path):
    names = Path(shared_file("names.txt")).read_text().splitlines()[:3000]
    (tmp_path / "names.txt").write_text("\n".join(names) + "\n")
    (tmp_path / "play.txt").write_text(Path(shared_file("tinyshakespeare.txt")).read_text()[:60_000])
    cases = {
        "bpe": DataConfig(source="file", path=str(tmp_path / "names.txt"), tokenizer="bpe",
                          bpe={"vocab_size": 300, "pattern": "gpt2"}),
        "word": DataConfig(source="file", path=str(tmp_path / "play.txt"), kind="stream", fractions=[0.9, 0.1],
                           tokenizer="word", word={"min_count": 2}),
    }  # fmt: skip
    for name, data in cases.items():
        data.check()
        prepare(data, tmp_path / name)
        assert _prepared_digest(tmp_path / name) == BEFORE[name], name
