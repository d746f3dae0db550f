"""Every relative link in README.md, docs/ and benchmarks/README.md points at a file that exists, and every
`#anchor` at a heading of its target (GitHub's slugs), so a moved or renamed page cannot leave a dead link."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted([ROOT / "README.md", ROOT / "benchmarks" / "README.md", *(ROOT / "docs").glob("*.md")])
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^[ \t]*(```|~~~).*?^[ \t]*\1", re.M | re.S)
CODE_SPAN = re.compile(r"`[^`\n]*`")


def prose(text: str) -> str:
    """The text without fenced code blocks and inline code spans, where brackets are code, not links."""
    return CODE_SPAN.sub("", FENCE.sub("", text))


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: link targets and formatting dropped, lower case, punctuation removed
    (letters, digits, '_' and '-' kept), spaces to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)
    text = re.sub(r"[^\w\- ]", "", text.replace("`", "").lower())
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    seen: dict[str, int] = {}
    out = set()
    for line in FENCE.sub("", page.read_text()).splitlines():
        if m := re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line):
            s = slug(m.group(1))
            n = seen.get(s, 0)
            seen[s] = n + 1
            out.add(s if n == 0 else f"{s}-{n}")
    return out


def links(page: Path) -> list[str]:
    return [t for t in LINK.findall(prose(page.read_text())) if not re.match(r"[a-z][a-z0-9+.-]*:", t)]


def test_the_docs_pages_exist():
    for name in ("results", "pipeline", "data", "cli", "models", "parallel", "sweeps", "errors", "autograd"):
        assert (ROOT / "docs" / f"{name}.md").is_file(), f"docs/{name}.md is missing (README links every topic)"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_doc_links_resolve(page: Path):
    dead = []
    for target in links(page):
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.exists():
            dead.append(f"{target} (no such file)")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            dead.append(f"{target} (no heading with that anchor in {dest.relative_to(ROOT)})")
    assert not dead, f"{page.relative_to(ROOT)} has dead links: {dead}"


def test_readme_is_a_front_door():
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 200, "README.md is over 200 lines; move the detail into a page of docs/"
    for command in ("python -m pip install -e '.[dev]'", "python -m pytest"):  # .ci/run runs exactly these
        assert command in text, f"README.md lacks the command {command!r} that .ci/run runs"
    for page in PAGES:
        if page == ROOT / "README.md":
            continue
        rel = page.relative_to(ROOT).as_posix()
        assert f"]({rel})" in text, f"README.md does not link {rel}"


def test_slugs_follow_github():
    assert slug("The fast package: what each piece does, and what it measured") == (
        "the-fast-package-what-each-piece-does-and-what-it-measured"
    )
    assert slug("MPI ranks (`bench_mpi.py`)") == "mpi-ranks-bench_mpipy"
    assert slug("`lmladder compare A B`") == "lmladder-compare-a-b"
