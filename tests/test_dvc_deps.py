"""dvc.yaml never lets an output go stale: every stage depends on every project file its command runs.

For each stage DVC itself reads from dvc.yaml, the files its command imports are found transitively from the
import statements of the stage script (under stages/ and src/), plus the model modules that
`lmladder.models.rung_class` imports on demand: a stage that passes `rung=<r>` loads only that rung's module; any
other stage that can open checkpoints or list the ladder may load every rung's. Each of those files must lie under
one of the stage's `deps`. Unused deps are allowed (they only cost a rerun).
"""

import ast
import shlex
import shutil
from functools import cache
from pathlib import Path

import pytest
import yaml

from lmladder.config import PAGES
from lmladder.models import ladder, rungs

ROOT = Path(__file__).resolve().parent.parent
SRC, STAGES = ROOT / "src", ROOT / "stages"
LOADERS = {  # import any rung's module: a checkpoint's (lmladder/checkpoints.py) or the whole ladder's (reports)
    SRC / "lmladder" / "checkpoints.py",
    SRC / "lmladder" / "reports" / "collect.py",
}


def _module_file(name: str) -> Path | None:
    """The project file of an absolute module name (lmladder.* under src/, stage helpers under stages/)."""
    base = SRC if name.split(".")[0] == "lmladder" else STAGES
    path = base.joinpath(*name.split("."))
    for cand in (path.with_suffix(".py"), path / "__init__.py"):
        if cand.is_file():
            return cand
    return None


def _package(file: Path) -> str:
    rel = file.relative_to(SRC if file.is_relative_to(SRC) else STAGES).with_suffix("")
    parts = list(rel.parts)
    return ".".join(parts[:-1] if parts[-1] != "__init__" else parts[:-1])


def _imported_names(file: Path) -> set[str]:
    """Absolute names of every module an `import` anywhere in `file` may load (submodules of `from X import Y`
    included; each parent package too, since importing a.b.c runs a/__init__ and a/b/__init__)."""
    names = set()
    tree = ast.parse(file.read_text(), str(file))
    typing_only = {  # `if TYPE_CHECKING:` blocks never run
        id(n)
        for i in ast.walk(tree)
        if isinstance(i, ast.If) and ast.unparse(i.test) == "TYPE_CHECKING"
        for n in ast.walk(i)
    }
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                pkg = _package(file).split(".")
                pkg = pkg[: len(pkg) - node.level + 1] if node.level > 1 else pkg
                base = ".".join([*pkg, *([node.module] if node.module else [])])
            else:
                base = node.module
            names.add(base)
            names |= {f"{base}.{a.name}" for a in node.names}
    expanded = set()
    for n in names:
        parts = n.split(".")
        expanded |= {".".join(parts[: i + 1]) for i in range(len(parts))}
    return expanded


@cache
def closure(file: Path) -> frozenset[Path]:
    seen, todo = {file}, [file]
    while todo:
        for name in _imported_names(todo.pop()):
            f = _module_file(name)
            if f is not None and f not in seen:
                seen.add(f)
                todo.append(f)
    return frozenset(seen)


def _rung_module(rung: str) -> Path:
    return SRC / "lmladder" / "models" / f"{rung}.py"


def stage_files(cmd: str) -> set[Path]:
    """The project files a stage command runs: its script's import closure and the rung modules it may load."""
    args = shlex.split(cmd)
    script = ROOT / next(a for a in args if a.endswith(".py"))
    files = set(closure(script))
    passed = [a.split("=", 1)[1] for a in args if a.startswith("rung=")]
    if passed:
        modules = [_rung_module(r) for r in passed]
    else:
        modules = [_rung_module(r) for r in rungs()] if LOADERS & files else []
    for m in modules:
        files |= closure(m)
    return files


@pytest.fixture(scope="module")
def stages():
    from dvc.repo import Repo

    with Repo(str(ROOT)) as repo:
        return [(s.addressing, s.cmd, [ROOT / d.def_path for d in s.deps]) for s in repo.index.stages]


def test_every_stage_depends_on_every_file_it_runs(stages):
    stale = []
    for name, cmd, deps in stages:
        for f in sorted(stage_files(cmd)):
            if not any(f == d or f.is_relative_to(d) for d in deps):
                stale.append(f"{name}: {f.relative_to(ROOT)}")
    assert not stale, (
        "add these to the stage's deps in dvc.yaml (a change to them would leave its outputs stale):\n"
        + ("\n".join(stale))
    )


def test_the_scenario_of_the_stale_outputs_issue(stages):
    """Editing the stage glue, the checkpoint format or the config layer must mark every stage that runs them."""
    for edited in ("src/lmladder/app/policy.py", "src/lmladder/io/checkpoint.py", "src/lmladder/config.py"):
        for name, cmd, _ in stages:
            assert ROOT / edited in stage_files(cmd), f"{name} does not run {edited}?"


def _pipeline() -> list[str]:
    """The rungs the DVC pipeline trains: `pipeline` in params.yaml (what conf/ composes to: test_params_in_sync)."""
    return yaml.safe_load((ROOT / "params.yaml").read_text())["pipeline"]


def _arg(cmd: str, key: str) -> str | None:
    return next((a.split("=", 1)[1] for a in shlex.split(cmd) if a.startswith(f"{key}=")), None)


def _training_stages(stages) -> dict[str, tuple[str, str]]:
    """stage name -> (the rung, the seed) its command trains, for every stage that trains one."""
    return {name: (_arg(cmd, "rung"), _arg(cmd, "seed")) for name, cmd, _ in stages if _arg(cmd, "rung")}


def test_every_rung_and_seed_of_the_pipeline_has_a_stage_and_evaluate_reads_it(stages):
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    trained = set(_training_stages(stages).values())
    evaluate = next(deps for name, _, deps in stages if name == "evaluate")
    for rung in _pipeline():
        assert rung in rungs(), f"pipeline lists '{rung}', which is no model file of lmladder/models"
        for seed in params["seeds"]:
            assert (rung, str(seed)) in trained, f"dvc.yaml trains no rung={rung} seed={seed}: its train matrix?"
        assert ROOT / "outputs" / rung in evaluate, f"evaluate's deps lack outputs/{rung} (adding-a-rung.md)"


def test_every_training_stage_trains_a_rung_of_the_pipeline(stages):
    """A stage outside `pipeline` would train a rung that evaluate never reads: its outputs would go unreported."""
    pipeline = _pipeline()
    for stage, (rung, seed) in _training_stages(stages).items():
        assert stage == f"train@{rung}-{seed}", f"stage '{stage}' trains rung={rung} seed={seed}; use the train matrix"
        assert rung in pipeline, f"stage '{stage}' trains a rung outside pipeline {pipeline}; add it to pipeline"
    assert list(pipeline) == [r for r in ladder() if r in pipeline], f"list pipeline {pipeline} bottom to top"
    evaluate = next(deps for name, _, deps in stages if name == "evaluate")
    read = {d.name for d in evaluate if d.parent == ROOT / "outputs"}
    assert read == set(pipeline), f"evaluate reads outputs/{sorted(read)}, pipeline is {pipeline}"


def test_a_training_stage_does_not_depend_on_other_rungs(stages):
    """A change to one model file reruns that rung (and evaluate), not the others."""
    for name, (rung, _) in _training_stages(stages).items():
        cmd = next(cmd for n, cmd, _ in stages if n == name)
        others = {_rung_module(r) for r in rungs() if r != rung}
        assert not others & stage_files(cmd), f"{name} imports another rung's model"


def test_every_optional_page_gets_a_stage_that_depends_on_what_it_runs(tmp_path):
    """`pages` is empty in the committed params.yaml (the default `dvc repro` writes no optional page); listing every
    page of config.PAGES gives each its page@<name> stage, whose deps cover the files its script runs and, as
    evaluate's, the runs of every rung of the pipeline."""
    from dvc.repo import Repo

    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    assert params["pages"] == [], "the default dvc repro writes no optional page (conf/config.yaml: pages)"
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({**params, "pages": list(PAGES)}))
    shutil.copy(ROOT / "dvc.yaml", tmp_path / "dvc.yaml")
    Repo.init(str(tmp_path), no_scm=True).close()
    with Repo(str(tmp_path)) as repo:
        pages = [(s.name, s.cmd, [ROOT / d.def_path for d in s.deps]) for s in repo.index.stages]  # addressing: by cwd
    pages = [p for p in pages if p[0].startswith("page@")]
    assert sorted(name for name, _, _ in pages) == sorted(f"page@{p}" for p in PAGES)
    for name, cmd, deps in pages:
        stale = [f for f in stage_files(cmd) if not any(f == d or f.is_relative_to(d) for d in deps)]
        assert not stale, f"{name}: add {stale} to its deps in dvc.yaml"
        assert {ROOT / "outputs" / rung for rung in _pipeline()} <= set(deps), f"{name} lacks a rung's runs"
