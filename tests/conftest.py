"""Session fixtures shared by every test package: prepared corpora built once per test run."""

import pytest

from lmladder.data import load_prepared, load_text, prepare_corpus

from .shared_data import shared_file


@pytest.fixture(scope="session")
def names_prepared(tmp_path_factory):
    """makemore's names.txt with the canonical lines split (80/10/10, random.seed(42))."""
    out = tmp_path_factory.mktemp("names") / "prepared"
    prepare_corpus(
        load_text("file", path=shared_file("names.txt")), kind="lines", tokenizer="char", out_dir=out, source="names"
    )
    return load_prepared(out)


@pytest.fixture(scope="session")
def shakespeare_prepared(tmp_path_factory):
    """Tiny Shakespeare, first 90% train / last 10% val."""
    out = tmp_path_factory.mktemp("shakespeare") / "prepared"
    prepare_corpus(
        load_text("file", path=shared_file("tinyshakespeare.txt")), kind="stream", tokenizer="char", out_dir=out
    )
    return load_prepared(out)


@pytest.fixture(scope="session")
def tiny_names(tmp_path_factory):
    """A small, fast lines corpus (the first 600 names) for training-loop tests."""
    text = "\n".join(load_text("file", path=shared_file("names.txt")).splitlines()[:600])
    out = tmp_path_factory.mktemp("tiny_names") / "prepared"
    prepare_corpus(text, kind="lines", tokenizer="char", out_dir=out)
    return load_prepared(out)


@pytest.fixture(scope="session")
def tiny_stream(tmp_path_factory):
    """A small stream corpus (the first 20k characters of Tiny Shakespeare)."""
    text = load_text("file", path=shared_file("tinyshakespeare.txt"))[:20_000]
    out = tmp_path_factory.mktemp("tiny_stream") / "prepared"
    prepare_corpus(text, kind="stream", tokenizer="char", out_dir=out)
    return load_prepared(out)
