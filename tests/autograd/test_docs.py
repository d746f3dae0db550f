"""docs/autograd.md's op table lists every registered Function, with the module, kind and composite twin it has.

The table between the op-table markers is generated; rewrite it after adding or moving an op with

    python -m tests.autograd.test_docs

Name, module and kind come from `Function.registry`; the composite twin is the `*_composite` function that
tests/autograd/test_fused.py proves equal to the op. The "Computes" cell is prose: the generator keeps the cell of
every existing row, and a new op starts with its docstring's first line or a TODO, which the tests reject.
"""

from __future__ import annotations

import inspect
import re
import sys
from pathlib import Path

from lmladder.autograd import Function, Tensor

from .test_fused import PAIRS

DOC = Path(__file__).resolve().parents[2] / "docs" / "autograd.md"
BEGIN, END = "<!-- op-table:begin -->", "<!-- op-table:end -->"
REGEN = "python -m tests.autograd.test_docs"
HEADER = ["Op (`Function`)", "Module", "Kind", "Computes", "Composite twin"]
MODULE_ORDER = ["ops_elementwise", "ops_reduce", "ops_shape", "ops_nn", "ops_norm", "ops_attention", "ops_recurrent"]
# hand-written forward and backward, composable from primitives
FUSED_MODULES = {"ops_nn", "ops_norm", "ops_attention", "ops_recurrent"}
TODO = "TODO: say what it computes"
_CELL_SPLIT = re.compile(r"(?<!\\)\|")


def registered_ops() -> dict[str, type[Function]]:
    """The registry's lmladder ops (a test may register a throwaway Function of its own for a moment)."""
    return {n: c for n, c in Function.registry.items() if c.__module__.startswith("lmladder.")}


def composite_twins() -> dict[str, str]:
    """Op name -> its `*_composite` twin, read off the fused/composite pairs that test_fused.py compares."""
    twins: dict[str, str] = {}
    for label, fused, composite, arrays in PAIRS:
        out = fused(*[Tensor(a, requires_grad=True) for a in arrays])
        op = type(out._node).__name__  # the Function the fused side ends in
        if composite.__name__.endswith("_composite"):
            twin = composite.__name__
        else:  # a lambda wrapping exactly one composite call
            (twin,) = [n for n in composite.__code__.co_names if n.endswith("_composite")]
        assert twins.setdefault(op, twin) == twin, f"{op} has two twins in test_fused.PAIRS ({label})"
    return twins


def _table_lines(text: str) -> list[str]:
    if BEGIN not in text or END not in text:
        raise AssertionError(f"{DOC} lacks the {BEGIN} ... {END} markers around the op table")
    return text.split(BEGIN, 1)[1].split(END, 1)[0].strip().splitlines()


def doc_rows(text: str) -> dict[str, list[str]]:
    """Op name -> the cells of its row in the op table of `text`."""
    rows = {}
    for line in _table_lines(text)[2:]:  # past the header and the |---| line
        cells = [c.strip() for c in _CELL_SPLIT.split(line.strip().strip("|"))]
        rows[cells[0].strip("`")] = cells
    return rows


def _order(item: tuple[str, type[Function]]):
    name, cls = item
    mod = cls.__module__.rsplit(".", 1)[-1]
    rank = MODULE_ORDER.index(mod) if mod in MODULE_ORDER else len(MODULE_ORDER)
    return rank, mod, inspect.getsourcelines(cls)[1]


def render_table(text: str) -> str:
    """The op table for the code as it is now, keeping the "Computes" cells already written in `text`."""
    old = doc_rows(text) if BEGIN in text else {}
    twins = composite_twins()
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    for name, cls in sorted(registered_ops().items(), key=_order):
        mod = cls.__module__.rsplit(".", 1)[-1]
        kind = "fused" if mod in FUSED_MODULES else "primitive"
        if not cls.differentiable:
            kind += ", no gradient"
        if name in old:
            computes = old[name][3]
        else:
            doc = (cls.__doc__ or "").strip()
            computes = doc.splitlines()[0].replace("|", "\\|") if doc else TODO
        twin = f"`F.{twins[name]}`" if name in twins else "—"
        lines.append(f"| `{name}` | `{mod}.py` | {kind} | {computes} | {twin} |")
    return "\n".join(lines)


def missing_rows(text: str) -> list[str]:
    return sorted(set(registered_ops()) - set(doc_rows(text)))


# ---------------------------------------------------------------------- tests
def test_every_registered_op_has_a_row_in_the_doc_table():
    missing = missing_rows(DOC.read_text())
    assert not missing, f"docs/autograd.md's op table has no row for {missing}; run `{REGEN}` and describe them"


def test_the_doc_table_lists_only_registered_ops():
    extra = sorted(set(doc_rows(DOC.read_text())) - set(registered_ops()))
    assert not extra, f"docs/autograd.md's op table lists ops that are not registered: {extra}; run `{REGEN}`"


def test_the_doc_table_matches_the_code():
    text = DOC.read_text()
    undescribed = [n for n, cells in doc_rows(text).items() if not cells[3] or cells[3].startswith("TODO")]
    assert not undescribed, f"describe {undescribed} in the Computes column of docs/autograd.md's op table"
    current = "\n".join(_table_lines(text))
    assert current == render_table(text), f"docs/autograd.md's op table is stale (module, kind or twin); run `{REGEN}`"


def test_the_check_notices_a_missing_row():
    text = DOC.read_text()
    without_add = "\n".join(line for line in text.splitlines() if not line.startswith("| `Add` |"))
    assert missing_rows(without_add) == sorted({*missing_rows(text), "Add"})


def main() -> None:
    text = DOC.read_text()
    head, rest = text.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    DOC.write_text(f"{head}{BEGIN}\n{render_table(text)}\n{END}{tail}")
    todo = [n for n, cells in doc_rows(DOC.read_text()).items() if cells[3] == TODO]
    print(f"wrote the op table of {DOC}" + (f"; describe {todo}" if todo else ""), file=sys.stderr)


if __name__ == "__main__":
    main()
