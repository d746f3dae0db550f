"""Shared corpora: the team's reference files, used by absolute path (never copied into the project).

Imported as fixtures by tests/data/conftest.py and tests/models/test_ngram.py.
"""

from pathlib import Path

import pytest

from lmladder.data import load_prepared, load_text, prepare_corpus

NAMES = Path("/work/shared/data/names.txt")
SHAKESPEARE = Path("/work/shared/data/tinyshakespeare.txt")


@pytest.fixture(scope="session", name="names_prepared")
def names_prepared_fixture(tmp_path_factory):
    out = tmp_path_factory.mktemp("names") / "prepared"
    prepare_corpus(load_text("file", path=NAMES), kind="lines", tokenizer="char", out_dir=out, source="names")
    return load_prepared(out)


@pytest.fixture(scope="session", name="shakespeare_prepared")
def shakespeare_prepared_fixture(tmp_path_factory):
    out = tmp_path_factory.mktemp("shakespeare") / "prepared"
    prepare_corpus(load_text("file", path=SHAKESPEARE), kind="stream", tokenizer="char", out_dir=out)
    return load_prepared(out)
