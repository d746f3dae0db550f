"""The import graph of src/lmladder: no cycles, no import up the house (FLOORS), no private name imported from another
module, and lmladder.fast fenced off from the readable core (lmladder.fast imports only itself and the floors
below it; autograd/ and nn/ reach it through its one seam, fast.kernel).

Imports under `if TYPE_CHECKING:` are left out (annotations only: no import at run time); imports inside
functions count."""

import ast
import subprocess
import sys
from pathlib import Path

import lmladder

SRC = Path(lmladder.__file__).parent.parent

# The floors of the house, bottom first (docs/pipeline.md, "The house"): a module imports its own part of the
# package (the sub-package or module named after the first name below lmladder) and the floors below it, never a
# floor above nor another part of its own floor. Every part of lmladder stands on exactly one floor.
FLOORS = (
    ("environment",),  # the variables numba and OpenMP read as they are imported: checked before any import
    ("lmladder", "errors"),  # the package itself, and the error every other floor raises
    ("rules", "resources", "progress", "stdout", "interrupt"),  # field rules, memory and cores, bars, stdout, Ctrl-C
    ("parallel",),  # MPI ranks (each rank's share of the cores)
    ("io",),  # atomic writes, locks, the safetensors format
    ("data",),  # corpora, tokenizers, splits, batches
    ("fast",),  # speed alone, below the engine that reaches it through one seam
    ("autograd",),
    ("nn",),
    ("models",),  # the rungs
    ("checkpoints",),  # any rung's model, optimizer state and generators to and from a file
    ("inference",),  # scoring, sampling
    ("training",),  # the trainer and a whole run
    ("reports", "insight", "export"),
    ("diff",),  # two models on one text, character by character (lines up inference's scores, reports' bootstrap)
    ("frontier",),  # compute-frontier studies: plans of ordinary runs, fits from their reports
    ("config",),  # the composed Hydra config, typed
    ("app",),  # the stage scripts' glue
    ("cli",),  # the lmladder command: a module per command
    ("__main__",),
)


def _modules(src: Path) -> dict[str, tuple[Path, bool]]:
    """Module name -> (file, is a package), for the lmladder package under src."""
    found = {}
    for f in (src / "lmladder").rglob("*.py"):
        parts = list(f.relative_to(src).with_suffix("").parts)
        package = parts[-1] == "__init__"
        found[".".join(parts[:-1] if package else parts)] = (f, package)
    return found


def _type_checking(tree) -> set[int]:
    """ids of the nodes inside `if TYPE_CHECKING:` blocks."""
    skip = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", getattr(node.test, "attr", "")) == "TYPE_CHECKING":
            skip |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    return skip


def _graph(src: Path = SRC):
    """(edges: module -> the lmladder modules it imports, private: (module, imported from, name) triples)."""
    modules = _modules(src)
    edges, private = {}, []
    for name, (path, package) in modules.items():
        here = name.split(".") if package else name.split(".")[:-1]
        tree = ast.parse(path.read_text())
        skip = _type_checking(tree)
        out = set()
        for node in ast.walk(tree):
            if id(node) in skip:
                continue
            if isinstance(node, ast.Import):
                out |= {a.name for a in node.names if a.name in modules}
            elif isinstance(node, ast.ImportFrom):
                parts = here[: len(here) - node.level + 1] if node.level else []
                base = ".".join(parts + ([node.module] if node.module else []))
                for a in node.names:
                    if f"{base}.{a.name}" in modules:
                        out.add(f"{base}.{a.name}")
                    elif base in modules:
                        out.add(base)
                        if a.name.startswith("_") and base != name:
                            private.append((name, base, a.name))
        edges[name] = out - {name}
    return edges, private


def _cycle(edges) -> list[str] | None:
    """One import cycle, as a list of modules, or None."""
    state = {}

    def visit(m, path):
        state[m] = "open"
        for n in sorted(edges[m]):
            if state.get(n) == "open":
                return path[path.index(n) :] + [n]
            if n not in state and (found := visit(n, path + [n])):
                return found
        state[m] = "done"
        return None

    for m in sorted(edges):
        if m not in state and (found := visit(m, [m])):
            return found
    return None


def _part(module: str) -> str:
    """lmladder.training.loop -> training; lmladder -> lmladder."""
    return module.split(".")[1] if "." in module else module


def _upward(edges, floors=FLOORS) -> list[str]:
    """Every import of a module of another part on the same floor or a floor above, as 'a -> b'."""
    floor = {part: i for i, parts in enumerate(floors) for part in parts}
    bad = []
    for m, imports in sorted(edges.items()):
        for n in sorted(imports):
            if _part(n) != _part(m) and floor[_part(n)] >= floor[_part(m)]:
                bad.append(f"{m} -> {n}")
    return bad


def test_every_part_of_the_package_stands_on_one_floor():
    parts = {_part(m) for m in _graph()[0]}
    placed = [p for floor in FLOORS for p in floor]
    assert len(placed) == len(set(placed)), "a part is on two floors"
    assert parts == set(placed), (
        f"place {sorted(parts - set(placed))} on a floor (FLOORS); drop {sorted(set(placed) - parts)}"
    )


def test_no_import_runs_up_the_house():
    bad = _upward(_graph()[0])
    assert not bad, "imports of a floor above (or beside): " + ", ".join(bad)


def test_the_floor_check_sees_an_upward_and_a_sideways_import(tmp_path):
    pkg = tmp_path / "lmladder"
    (pkg / "low").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "low" / "__init__.py").write_text("")
    (pkg / "low" / "a.py").write_text("from ..high import b\nfrom . import c\n")  # up, then its own part
    (pkg / "low" / "c.py").write_text("from .. import side\n")  # beside
    (pkg / "high.py").write_text("from .low import a\n")  # down
    (pkg / "side.py").write_text("")
    floors = (("lmladder",), ("low", "side"), ("high",))
    edges = _graph(tmp_path)[0]
    assert _upward(edges, floors) == ["lmladder.low.a -> lmladder.high", "lmladder.low.c -> lmladder.side"]


def test_the_import_graph_has_no_cycle():
    cycle = _cycle(_graph()[0])
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_no_private_name_crosses_a_module():
    private = _graph()[1]
    assert not private, [f"{m} imports {n} from {src}" for m, src, n in private]


def test_the_checks_see_a_cycle_and_a_private_import(tmp_path):
    pkg = tmp_path / "lmladder"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "a.py").write_text("from . import b\nfrom ..c import _hidden\n")
    (pkg / "sub" / "b.py").write_text("def f():\n    from lmladder.sub import a\n")
    (pkg / "c.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .sub import a\n")
    edges, private = _graph(tmp_path)
    assert _cycle(edges) == ["lmladder.sub.a", "lmladder.sub.b", "lmladder.sub.a"]
    assert private == [("lmladder.sub.a", "lmladder.c", "_hidden")]
    assert edges["lmladder.c"] == set()  # an annotation-only import is no edge


def test_fast_imports_itself_and_the_floors_below():
    for module, imports in _graph()[0].items():
        if module.startswith("lmladder.fast"):
            outside = {m for m in imports if not m.startswith("lmladder.fast")} - {
                "lmladder.errors",
                "lmladder.resources",
            }
            assert not outside, f"{module} imports {sorted(outside)}; lmladder.fast imports only itself and the floor"


def test_the_core_reaches_fast_through_its_one_seam():
    """autograd/ and nn/ import the package lmladder.fast (whose `kernel(x)` hands out fast/ops.py),
    never one of its modules: what runs with the numpy backend is what a reader reads there."""
    for module, imports in _graph()[0].items():
        if module.startswith(("lmladder.autograd", "lmladder.nn")):
            inside = sorted(m for m in imports if m.startswith("lmladder.fast."))
            assert not inside, f"{module} imports {inside}; use `from .. import fast` and fast.kernel(x)"


def test_a_training_stage_starts_without_the_table_and_plot_libraries():
    """pandas and matplotlib cost ~0.5 s each to import; a training stage (and each frontier point) reads no table
    and draws nothing until its summary, so its imports leave them out."""
    stage = "lmladder.app.policy, lmladder.app.runs, lmladder.app.sweeps, lmladder.training, lmladder.training.mfu"
    code = f"import sys, {stage}; print([m for m in ('pandas', 'matplotlib') if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
    assert out.stdout.strip() == "[]"


def test_the_lmladder_command_builds_its_parser_without_the_table_and_plot_libraries():
    """Every `lmladder` subcommand (`sample`, `--help`) builds the whole parser first; its choices (compare's
    score names, reports/names.py) come from modules that leave pandas and matplotlib to the commands that use them."""
    code = (
        "import sys; from lmladder.cli import build_parser; build_parser(); "
        "print([m for m in ('pandas', 'matplotlib') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
    assert out.stdout.strip() == "[]"


def test_a_stage_checks_its_config_without_loading_numba():
    """numba costs ~0.5 s to import; a stage composes and checks its config, and exits on a bad one, before it needs a
    kernel, so the glue, the config and the trainer's modules leave numba to the code that compiles or runs one."""
    glue = "lmladder.app.policy, lmladder.app.runs, lmladder.app.sweeps, lmladder.app.stage, lmladder.training"
    code = f"import sys, {glue}; print('numba' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
    assert out.stdout.strip() == "False"
