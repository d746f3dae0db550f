"""Session fixtures shared by every test package: prepared corpora built once per test run; and numba's kernels
compiled before pytest-xdist starts its workers."""

import pytest

from lmladder.data import load_prepared, load_text, prepare_corpus

from . import warm_kernels
from .shared_data import shared_file


def pytest_sessionstart(session):
    """With workers (-n 2 or more) and the kernels' sources new to this clone's cache, compile the kernels first, a
    share per worker (warm_kernels.py); this runs before xdist's own hook starts them. A run in one process (-n 0)
    compiles what its tests use, as it goes."""
    config = session.config
    workers = len(getattr(config.option, "tx", None) or ())  # xdist's: one entry per worker
    if hasattr(config, "workerinput") or config.option.collectonly or workers < 2:
        return
    cache, key, stamp = getattr(config, "cache", None), "lmladder/numba_warm", warm_kernels.stamp()
    if cache is not None and cache.get(key, None) == stamp:
        return
    ok, line = warm_kernels.warm(workers)
    config.get_terminal_writer().line(line)
    if ok and cache is not None:
        cache.set(key, stamp)


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
