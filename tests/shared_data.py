"""The team's reference corpora (never copied into the project), found by path; and ODD, a line of odd text.

Looked up in $LMLADDER_SHARED_DATA, then ../shared/data next to the repository, then /work/shared/data.
"""

import os
from pathlib import Path

import pytest

# text that trips tokenizers: combining marks, U+001C, no-break and line-separator spaces, curly quotes, long s,
# digits of other scripts, emoji, CR LF, runs of newlines and trailing spaces
ODD = "Café naïve cafe\u0301 x\u001cy \u00a0z\u2028 ‘q’ (p) [b] don't’s 'S 'LL ſ K 1234 ١٢٣ ½ 你好 🙂 \t\tx\r\n\n\n  "

_REPO = Path(__file__).resolve().parent.parent
_CANDIDATES = [
    *([Path(os.environ["LMLADDER_SHARED_DATA"])] if os.environ.get("LMLADDER_SHARED_DATA") else []),
    _REPO.parent / "shared" / "data",
    Path("/work/shared/data"),
]


def shared_file(name: str) -> Path:
    for d in _CANDIDATES:
        if (d / name).is_file():
            return d / name
    pytest.skip(f"reference corpus {name} not found (set LMLADDER_SHARED_DATA to the folder holding it)")


def _first(name: str) -> Path:
    for d in _CANDIDATES:
        if (d / name).is_file():
            return d / name
    return _CANDIDATES[-1] / name


NAMES = _first("names.txt")
SHAKESPEARE = _first("tinyshakespeare.txt")
