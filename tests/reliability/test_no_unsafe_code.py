"""No code path in the package or the stages can execute a file's contents: no pickle (or its relatives), no
allow_pickle=True, no eval/exec/compile, no unsafe YAML loading. Checked on the syntax tree of every file of
src/lmladder and stages/ (so `model.eval()` is fine and a word in a message is not a hit), plus a plain-text grep."""

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FILES = sorted([*(ROOT / "src" / "lmladder").rglob("*.py"), *(ROOT / "stages").glob("*.py")])
BANNED_MODULES = {"pickle", "cPickle", "_pickle", "dill", "cloudpickle", "joblib", "marshal", "shelve", "torch",
                  "jsonpickle"}  # fmt: skip
BANNED_CALLS = {"eval", "exec", "compile", "__import__"}
BANNED_ATTRS = {"read_pickle", "to_pickle", "unsafe_load", "full_load", "load_pickle"}
NUMPY = {"np", "numpy"}


def violations(source: str, name: str = "<src>") -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source, name)):
        where = f"{name}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.Import):
            found += [f"{where} imports {a.name}" for a in node.names if a.name.split(".")[0] in BANNED_MODULES]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in BANNED_MODULES:
            found.append(f"{where} imports from {node.module}")
        elif isinstance(node, ast.Call):
            f = node.func
            if isinstance(f, ast.Name) and f.id in BANNED_CALLS:
                found.append(f"{where} calls {f.id}()")
            if isinstance(f, ast.Attribute) and f.attr in BANNED_CALLS and getattr(f.value, "id", "") == "builtins":
                found.append(f"{where} calls builtins.{f.attr}()")
            for k in node.keywords:
                if k.arg == "allow_pickle" and not (isinstance(k.value, ast.Constant) and k.value.value is False):
                    found.append(f"{where} passes allow_pickle other than False")
            receiver = getattr(f, "value", None)
            if isinstance(f, ast.Attribute) and f.attr == "load" and getattr(receiver, "id", "") in NUMPY:
                if not any(k.arg == "allow_pickle" for k in node.keywords):
                    found.append(f"{where} calls np.load without allow_pickle=False")
            if isinstance(f, ast.Attribute) and f.attr == "load" and getattr(receiver, "id", "") == "yaml":
                loader = [ast.unparse(k.value) for k in node.keywords if k.arg == "Loader"] + [
                    ast.unparse(x) for x in node.args[1:]
                ]
                if not (loader and "SafeLoader" in loader[0] and "Unsafe" not in loader[0]):
                    found.append(f"{where} calls yaml.load without a SafeLoader (use yaml.safe_load)")
        elif isinstance(node, ast.Attribute) and node.attr in BANNED_ATTRS:
            found.append(f"{where} uses .{node.attr}")
    return found


def test_the_scan_covers_the_whole_package_and_the_stages():
    names = {str(f.relative_to(ROOT)) for f in FILES}
    assert len(FILES) > 30
    for must in ("src/lmladder/io/checkpoint.py", "src/lmladder/data/prepared.py", "src/lmladder/cli/__init__.py",
                 "src/lmladder/app/stage.py", "stages/train.py"):  # fmt: skip
        assert must in names


@pytest.mark.parametrize("path", FILES, ids=[str(f.relative_to(ROOT)) for f in FILES])
def test_no_unpickling_or_evaluation(path):
    text = path.read_text(encoding="utf-8")
    assert not violations(text, str(path.relative_to(ROOT)))
    assert not re.search(r"allow_pickle\s*=\s*True|^\s*(import|from)\s+(c?pickle|dill|marshal|shelve)\b", text, re.M)


@pytest.mark.parametrize(
    "snippet",
    [
        "import pickle",
        "from pickle import loads",
        "import torch",
        "x = np.load(f, allow_pickle=True)",
        "x = np.load(f)",
        "x = numpy.load(f, allow_pickle=flag)",
        "eval(open(p).read())",
        "exec(code)",
        "builtins.eval('1')",
        "compile(src, 'f', 'exec')",
        "yaml.load(text)",
        "yaml.load(text, Loader=yaml.UnsafeLoader)",
        "yaml.load(text, yaml.FullLoader)",
        "df = pd.read_pickle(p)",
    ],
)
def test_the_scan_catches_each_unsafe_pattern(snippet):
    assert violations(snippet)


@pytest.mark.parametrize(
    "snippet",
    [
        "model.eval()",
        "np.load(f, mmap_mode='r', allow_pickle=False)",
        "yaml.safe_load(t)",
        "yaml.load(t, Loader=getattr(yaml, 'CSafeLoader', yaml.SafeLoader))",
        "json.loads(s)",
    ],
)
def test_the_scan_leaves_safe_code_alone(snippet):
    assert not violations(snippet)
