"""Every bad-input case of cases.py through its real entry point: a non-zero exit, one line that names the problem
and the fix (the project's prefix, no traceback), and every pre-existing file byte-identical afterwards.

Every case runs in-process (the stage's Hydra `main` via runpy, or `lmladder.cli.main`: the same code a process
runs); the in-process runs of the cases whose lines of lmladder others reach too are marked slow (slow_in_process.txt,
pick_slow_cases.py). A real subprocess (`python stages/<x>.py ...`, `python -m lmladder ...`) adds only what a process
has (its exit status and streams, Hydra's report, a sweep, standard input, the environment), so the cases with such a
mechanism and one case of each entry point and group also run as subprocesses (PROCESS_CASES), a few per group in the
default tier (`fast`), the rest in the slow tier. LMLADDER_DEBUG=1 brings the traceback back.
"""

import os
import re
import time
from collections import Counter
from pathlib import Path

import pytest
from hydra import initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.types import RunMode

from .cases import CASES, Case
from .harness import HYDRA_GET_MODE, RACY_NS, ROOT, Sandbox, build_sandbox, run_in_process, run_subprocess
from .pick_slow_cases import slow_ids

HYDRA_TAIL = "Set the environment variable HYDRA_FULL_ERROR=1 for a complete stack trace."


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    sb = build_sandbox(tmp_path_factory.mktemp("bad_input"))
    return sb, sb.snapshot()


def command(case: Case) -> str:
    """What the user ran: the lmladder subcommand, or the stage."""
    return case.args[0] if case.entry == "cli" else case.entry


def prefix(case: Case) -> str:
    return f"lmladder {command(case)}: error: "


def check(case: Case, r, sb, before) -> str:
    """Assert the contract; returns the user-visible message."""
    err = r.stderr.strip()
    assert "Traceback" not in err, f"{case.id}: a traceback reached the user:\n{err}"
    assert r.rc != 0, f"{case.id}: exit code 0\n{r.stdout}\n{err}"
    if case.hydra:  # Hydra's own report: short, with its pointer to the full trace
        assert r.rc == 1 and err.endswith(HYDRA_TAIL) and len(err.splitlines()) <= 15, err
        message = err
    else:
        assert r.rc == 2, f"{case.id}: exit code {r.rc}\n{err}"
        lines = err.splitlines()
        message = lines[-1]
        assert message.startswith(prefix(case)), f"{case.id}: last stderr line is not the project's:\n{err}"
        jobs = [ln for ln in lines[:-1] if ln.startswith("lmladder ")]  # a sweep's jobs: one line each
        assert not jobs or case.sweep and all(ln.endswith("lists this job as failed)") for ln in jobs), err
    assert re.search(case.problem, message), f"{case.id}: the problem ({case.problem}) is not named in:\n{message}"
    assert re.search(case.fix, message), f"{case.id}: the fix ({case.fix}) is not named in:\n{message}"
    changed = sb.changed(before)
    assert not changed, f"{case.id}: pre-existing files changed or vanished: {changed}"
    assert not (sb.root / "ckpt" / "UNPICKLED").exists(), "a pickle was unpickled"
    return message


SLOW = slow_ids()


def route(case: Case) -> tuple[str, str, str]:
    return case.entry, command(case), case.group


def process_cases() -> list[Case]:
    """The cases that also run as subprocesses: each with a mechanism of its own process, then the first case of each
    (entry point, group) those leave out."""
    picked = [c for c in CASES if c.fast or c.hydra or c.sweep or c.stdin or c.env]
    seen = {route(c) for c in picked}
    for c in CASES:
        if route(c) not in seen:
            picked.append(c)
            seen.add(route(c))
    return picked


PROCESS_CASES = process_cases()


@pytest.mark.parametrize(
    "case", [pytest.param(c, marks=pytest.mark.slow if c.id in SLOW else ()) for c in CASES], ids=[c.id for c in CASES]
)
def test_in_process(case, sandbox):
    sb, before = sandbox
    run_dir = str(sb.root / "runs" / f"ip-{case.id}")
    r = run_in_process(sb, case.entry, case.args, run_dir, stdin=case.stdin, env=dict(case.env))
    check(case, r, sb, before)


@pytest.mark.parametrize(
    "case",
    [pytest.param(c, marks=() if c.fast else pytest.mark.slow) for c in PROCESS_CASES],
    ids=[c.id for c in PROCESS_CASES],
)
def test_subprocess(case, sandbox):
    sb, before = sandbox
    run_dir = str(sb.root / "runs" / f"sp-{case.id}")
    r = run_subprocess(sb, case.entry, case.args, run_dir, stdin=case.stdin, env=dict(case.env))
    check(case, r, sb, before)


def test_the_check_sees_a_file_rewritten_with_its_old_size_and_times(tmp_path):
    """`check` reads again only the files whose stat changed: a rewrite that keeps the size and puts the old times
    back is still seen (its ctime moved), and a rewrite with the same bytes is not a change. A file written just
    before the snapshot is read again every time (its ctime may not move within one clock tick)."""
    sb = Sandbox(tmp_path)
    f, fresh = tmp_path / "corpora" / "names.txt", tmp_path / "corpora" / "fresh.txt"
    f.parent.mkdir()
    f.write_text("anna\nbob\n")
    time.sleep(2 * RACY_NS / 1e9)  # f is then older than the racy window: only its stat is checked
    fresh.write_text("carl\n")
    before = sb.snapshot()
    assert before["corpora/names.txt"][0] is not None and before["corpora/fresh.txt"][0] is None
    assert sb.changed(before) == []
    st = f.stat()
    f.write_text("anna\nbox\n")
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert sb.changed(before) == ["corpora/names.txt"]
    f.write_text("anna\nbob\n")
    assert sb.changed(before) == []
    fresh.write_text("carl!\n")
    assert sb.changed(before) == ["corpora/fresh.txt"]
    f.unlink()
    assert sb.changed(before) == ["corpora/fresh.txt", "corpora/names.txt"]


def test_the_slow_in_process_cases_exist_and_leave_hydras_reports_in_the_default_tier():
    """slow_in_process.txt names cases that exist (a renamed or dropped case: run pick_slow_cases again), and the
    default tier keeps each group and every Hydra report (coverage's tracer cannot see those)."""
    ids = {c.id: c for c in CASES}
    assert SLOW <= set(ids), (
        f"not cases any more: {sorted(SLOW - set(ids))}; python -m tests.reliability.pick_slow_cases"
    )
    assert not [i for i in SLOW if ids[i].hydra]
    assert {c.group for c in CASES if c.id not in SLOW} == {c.group for c in CASES}


def test_in_process_runs_skip_only_hydras_mode_probe():
    """harness._mode_probe answers None for conf/ without composing: true while no file of conf/ has a `mode` key
    (hydra.mode, or a key an experiment's `@package _global_` or a hydra/ group could place there), and Hydra's own
    probe of the composed config answers None."""
    setting = re.compile(r"^\s*mode\s*:", re.M)
    found = [str(f) for f in (ROOT / "conf").rglob("*.yaml") if setting.search(f.read_text())]
    assert not found, f"a conf/ file sets a `mode` key: harness._mode_probe must probe for it: {found}"
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base=None):  # left as it was found after
        hydra_app = GlobalHydra.instance().hydra
        assert HYDRA_GET_MODE(hydra_app, "config", []) is None
        assert HYDRA_GET_MODE(hydra_app, "config", ["hydra.mode=MULTIRUN"]) == RunMode.MULTIRUN  # it sees a mode
    assert not GlobalHydra.instance().is_initialized()  # in-process stages that run next initialise their own


def test_there_are_at_least_30_cases_in_every_group():
    assert len(CASES) >= 30
    groups = {
        "corpus",
        "config",
        "memory",
        "checkpoint",
        "sampling",
        "evaluate",
        "report",
        "export",
        "frontier",
        "diff",
        "live",
        "muon",
        "lookback",
        "average",
        "teacher",
    }
    assert {c.group for c in CASES} == groups


@pytest.mark.parametrize(
    "entry, args, raised",
    [
        ("mlp", ["mlp.optim.lr=0"], "ConfigError: mlp.optim.lr=0.0 must be a finite number > 0"),
        ("cli", ["sample", "{sb}/ckpt/pickle.safetensors"], "CheckpointError: {sb}/ckpt/pickle.safetensors looks like"),
    ],
)
def test_debug_switch_keeps_the_traceback(entry, args, raised, sandbox):
    sb, _ = sandbox
    quiet = run_subprocess(sb, entry, args, str(sb.root / "runs" / "debug-off"))
    loud = run_subprocess(sb, entry, args, str(sb.root / "runs" / "debug-on"), env={"LMLADDER_DEBUG": "1"})
    assert quiet.rc == 2 and "Traceback" not in quiet.stderr
    assert loud.rc == 1 and "Traceback (most recent call last)" in loud.stderr
    assert sb.fmt(raised) in loud.stderr


def test_the_subprocess_cases_cover_every_mechanism_route_and_group():
    """Every case runs in-process; a real process adds only its own mechanisms (Hydra's report and a sweep, a FIFO,
    bytes in argv, an environment variable, a pickle, each entry point), so the subprocess runs are every case with
    such a mechanism and one of each (entry point, group), and the fast suite runs a few of each group as subprocesses
    (about 2 CPU-seconds each)."""
    ids = {c.id for c in PROCESS_CASES}
    assert len(ids) == len(PROCESS_CASES) and {c.id for c in CASES if c.fast} <= ids
    assert {c.id for c in CASES if c.hydra or c.sweep or c.stdin or c.env} <= ids
    assert {route(c) for c in PROCESS_CASES} == {route(c) for c in CASES}
    assert len(PROCESS_CASES) < len(CASES) / 4, "a case per route and mechanism, not every case"
    fast = Counter(c.group for c in CASES if c.fast)
    assert set(fast) == {c.group for c in CASES}, "a group with no fast subprocess case"
    assert max(fast.values()) <= 4 and sum(fast.values()) <= 30, fast


def test_docs_list_every_case_with_its_exit_code():
    doc = (ROOT / "docs" / "errors.md").read_text()
    rows = {m.group(1): m.group(2) for m in re.finditer(r"^\| `([\w-]+)` \|.*\| (\d) \|$", doc, re.M)}
    for c in CASES:
        assert c.id in rows, f"docs/errors.md lacks {c.id}; run python -m tests.reliability.make_errors_doc"
        assert rows[c.id] == ("1" if c.hydra else "2"), c.id
    assert "LMLADDER_DEBUG=1" in doc


def test_readme_documents_the_debug_switch():
    assert "LMLADDER_DEBUG=1" in (Path(ROOT) / "README.md").read_text()
