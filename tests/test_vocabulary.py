"""One word for the speed layer: `fast` (the package lmladder.fast). The synonyms it had ("speed wing", "the wing",
"compiled backend") are gone from the code, the tests and the docs, and stay gone (issue 71)."""

import re
from pathlib import Path

import lmladder

ROOT = Path(lmladder.__file__).resolve().parents[2]
# "wing" as a word or a word's start ("wing.py", "_wing", "speed-wing"), never inside one ("drawing", "swing")
SYNONYMS = re.compile(r"(?<![a-z])wings?(?![a-z])|compiled\s+backend", re.IGNORECASE)
PLACES = ("src", "docs", "tests", "benchmarks", "README.md")


def _mentions(root: Path, places=PLACES) -> list[str]:
    """'path:line: text' for each synonym of `fast` in the .py and .md files under root's places."""
    files = []
    for place in places:
        p = root / place
        files += [p] if p.is_file() else [f for f in p.rglob("*") if f.suffix in (".py", ".md")]
    return [
        f"{f.relative_to(root).as_posix()}:{i}: {line.strip()}"
        for f in sorted(files)
        if f.resolve() != Path(__file__).resolve() and "__pycache__" not in f.parts
        for i, line in enumerate(f.read_text(encoding="utf-8").splitlines(), 1)
        if SYNONYMS.search(line)
    ]


def test_the_speed_layer_has_one_name():
    found = _mentions(ROOT)
    assert not found, "call the speed layer `fast` (lmladder.fast): " + "; ".join(found)


def test_the_check_finds_each_synonym_and_passes_words_that_contain_wing(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text("drawing, following, growing, a swing\n")
    (tmp_path / "m.py").write_text("x = 1  # the speed wing\nimport wing\n_Wing = 2\n")
    (tmp_path / "b.md").write_text("on the compiled  backend\n")
    assert _mentions(tmp_path, ("docs", "m.py", "b.md")) == [
        "b.md:1: on the compiled  backend",
        "m.py:1: x = 1  # the speed wing",
        "m.py:2: import wing",
        "m.py:3: _Wing = 2",
    ]
