"""Faults during a run (scenarios.py, real subprocesses): a non-finite loss, a full disk, a denied write. Each stops
with exit 2 and one line naming the problem and the fix, leaves the previous checkpoint / prepared data / report
byte-identical and no temporary behind, and a plain re-run afterwards continues. Plus in-process write failures of
the pieces (logs, prepared data, checkpoints)."""

import errno
import json
import os
import re
import shutil

import numpy as np
import pytest

from lmladder.checkpoints import load_training_checkpoint
from lmladder.data import load_prepared, prepare_corpus
from lmladder.io import WriteError
from lmladder.training.logs import TsvLog

from .harness import build_sandbox, run_subprocess
from .scenarios import SCENARIOS

TEMP = re.compile(r"\..+\.[0-9a-f]{12}\.(tmp|old)$")


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    return build_sandbox(tmp_path_factory.mktemp("faults"))


@pytest.fixture(scope="module")
def outcome(sandbox):
    """A scenario's outcome, run once per test process: the re-run test below starts from the full-disk one's."""
    seen = {}

    def get(scenario_id: str):
        if scenario_id not in seen:
            seen[scenario_id] = next(s for s in SCENARIOS if s.id == scenario_id).func(sandbox)
        return seen[scenario_id]

    return get


@pytest.mark.parametrize(
    "scenario",
    [pytest.param(s, marks=pytest.mark.slow if s.id == "disk-full-report" else ()) for s in SCENARIOS],
    ids=[s.id for s in SCENARIOS],
)
def test_fault_stops_cleanly_and_loses_nothing(scenario, outcome):
    o = outcome(scenario.id)
    err = o.result.stderr
    assert o.result.rc == 2 and "Traceback" not in err, err
    stage = "prepare" if "prepare" in scenario.id else "evaluate" if "report" in scenario.id else "mlp"
    stage = scenario.command or stage
    assert o.message.startswith(f"lmladder {stage}: error: "), err
    assert re.search(scenario.problem, o.message) and re.search(scenario.fix, o.message), o.message
    assert o.before, "nothing was guarded"
    changed = [f for f, h in o.before.items() if o.after.get(f) != h]
    assert not changed, f"changed or lost: {changed}"
    leftovers = [p.name for p in o.guarded.rglob("*") if TEMP.search(p.name)]
    assert not leftovers, leftovers
    for ck in [] if scenario.command == "export" else o.guarded.rglob("*.safetensors"):  # (an export's: not ours)
        load_training_checkpoint(ck)


def test_after_a_full_disk_a_plain_rerun_continues(sandbox, outcome):
    o = outcome("disk-full-checkpoint")
    assert o.result.rc == 2
    r = run_subprocess(sandbox, "mlp", ["resume=true", "mlp.train.max_iters=40"], str(o.guarded))
    assert r.rc == 0, r.stderr
    assert load_training_checkpoint(o.guarded / "model.safetensors").step == 40
    assert json.loads((o.guarded / "metrics.json").read_text())["step"] == 40


# ---------------------------------------------------------------------------------------------- in-process pieces
def _raise(code):
    def fail(*args, **kwargs):
        raise OSError(code, os.strerror(code))

    return fail


@pytest.mark.parametrize("code, fix", [(errno.ENOSPC, "free disk space"), (errno.EACCES, "check permissions")])
def test_prepared_data_survives_a_failed_rewrite(tmp_path, monkeypatch, code, fix):
    out = tmp_path / "prepared"
    prepare_corpus(
        "anna\nbob\ncarl\ndave\neve\nfred\ngina\nhal\nian\njo\n", kind="lines", tokenizer="char", out_dir=out
    )
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    monkeypatch.setattr(np, "save", _raise(code))
    with pytest.raises(WriteError, match=f"cannot write {re.escape(str(out))}: .*; {fix}"):
        prepare_corpus("x\ny\nz\nw\nv\nu\nt\ns\nr\nq\n", kind="lines", tokenizer="char", out_dir=out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["prepared"]  # no temporary directory left
    load_prepared(out)


def test_a_failing_log_write_is_one_line_and_keeps_the_rows(tmp_path, monkeypatch):
    log = TsvLog(tmp_path / "train_log.tsv", ["step", "loss"])
    log.write([0, 1.5])
    log.flush()  # rows reach the disk at least twice a second and before every checkpoint

    class Full:
        def write(self, _):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        flush = close = lambda self: None

    monkeypatch.setattr(log, "f", Full())
    with pytest.raises(WriteError) as e:
        log.write([1, 1.4])
    assert "\n" not in str(e.value) and "train_log.tsv: No space left on device; free disk space" in str(e.value)
    assert (tmp_path / "train_log.tsv").read_text() == "step\tloss\n0\t1.5\n"


def test_a_failing_log_trim_on_resume_keeps_the_old_log(tmp_path, monkeypatch):
    path = tmp_path / "eval_log.tsv"
    path.write_text("step\tval\n0\t3.0\n10\t2.5\n20\t2.2\n")
    monkeypatch.setattr(os, "replace", _raise(errno.ENOSPC))
    with pytest.raises(WriteError, match="eval_log.tsv: No space left on device"):
        TsvLog(path, ["step", "val"], truncate_from=10)
    assert path.read_text() == "step\tval\n0\t3.0\n10\t2.5\n20\t2.2\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["eval_log.tsv"]


def test_checkpoint_rename_denied_keeps_the_old_one(sandbox, tmp_path, monkeypatch):
    from lmladder.checkpoints import save_training_checkpoint

    good = sandbox.root / "runs" / "good" / "model.safetensors"
    dst = tmp_path / "model.safetensors"
    shutil.copy2(good, dst)
    ck = load_training_checkpoint(dst)
    monkeypatch.setattr(os, "replace", _raise(errno.EACCES))
    with pytest.raises(WriteError, match=r"model.safetensors: Permission denied; check permissions of"):
        save_training_checkpoint(dst, ck.model, ck.tokenizer, step=99)
    assert dst.read_bytes() == good.read_bytes()
    assert [p.name for p in tmp_path.iterdir()] == ["model.safetensors"]
