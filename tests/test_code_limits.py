"""House style, checked: no function in src/lmladder is over MAX_LINES lines
(docstring included) or takes more than MAX_PARAMS named parameters (self/cls and *args/**kwargs pass-throughs
not counted). Nested functions count on their own."""

import ast
from pathlib import Path

import lmladder

SRC = Path(lmladder.__file__).parent
MAX_LINES, MAX_PARAMS = 60, 8


def _sizes(root: Path = SRC) -> dict[str, tuple[int, int]]:
    """'file:function' -> (lines, named parameters) of every function under `root` over either limit."""
    over = {}
    for f in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                a = node.args
                params = [p for p in (*a.posonlyargs, *a.args, *a.kwonlyargs) if p.arg not in ("self", "cls")]
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_LINES or len(params) > MAX_PARAMS:
                    over[f"{f.relative_to(root).as_posix()}:{node.name}"] = (lines, len(params))
    return over


def test_functions_are_short_and_take_few_parameters():
    over = _sizes()
    assert not over, f"over {MAX_LINES} lines or {MAX_PARAMS} parameters ((lines, parameters)): {over}"


def test_the_check_counts_lines_and_parameters(tmp_path):
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_LINES - 1))
    at_the_limits = (
        f"def long():\n{body}\n\n"  # MAX_LINES lines with its def
        "def wide(self, a, b, c, d, e, f, g, h, *rest, **kw):\n    pass\n"  # 8 named parameters
    )
    (tmp_path / "m.py").write_text(at_the_limits)
    assert _sizes(tmp_path) == {}
    (tmp_path / "m.py").write_text(
        f"def long():\n{body}\n    return 1\n\ndef wide(a, b, c, d, e, f, g, h, i):\n    pass\n"
    )
    assert _sizes(tmp_path) == {"m.py:long": (MAX_LINES + 1, 0), "m.py:wide": (2, MAX_PARAMS + 1)}
