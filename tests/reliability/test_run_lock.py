"""Two training runs into one run folder: the second fails at once (exit 2, one line naming the folder and the fix)
and the first finishes as if it had been alone. Real processes, real stages/train.py; and the lock itself."""

import os
import subprocess
import sys
import time

import pytest

from lmladder.io import LOCK_NAME, RunLockedError, run_lock
from lmladder.io.lock import OWNER_NAME

from .harness import THREADS, Sandbox, build_base, run_subprocess

LONG = ["mlp.train.max_iters=5000", "mlp.train.eval.interval=1000", "mlp.train.checkpoint.interval=1000"]


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory) -> Sandbox:
    """conf/, stages/ and prepared names, nothing trained (harness.build_sandbox trains three runs: not needed)."""
    return build_base(tmp_path_factory.mktemp("lock"))


def test_a_second_run_into_a_busy_folder_fails_at_once_and_the_first_finishes(sandbox):
    run = sandbox.root / "runs" / "shared"
    env = {k: v for k, v in os.environ.items() if k not in ("DVC_STAGE", "LMLADDER_DEBUG")} | THREADS
    first = subprocess.Popen(
        [sys.executable, *sandbox.stage_argv("mlp", LONG, str(run))],
        cwd=sandbox.root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not (run / LOCK_NAME).exists():  # the first run holds the folder once its lock file is there
            assert first.poll() is None, f"the first run ended early:\n{first.communicate()[1]}"
            assert time.monotonic() < deadline, "the first run never took its lock"
            time.sleep(0.05)
        hydra_before = {p.name: p.read_bytes() for p in (run / ".hydra").iterdir()}
        second = run_subprocess(sandbox, "mlp", LONG, str(run))
        # refused at once, not after waiting for the lock: the first run is still training when the second ends
        assert first.poll() is None, "the first run should still be training: raise max_iters in LONG"
    finally:
        out, err = first.communicate(timeout=600)
    lines = second.stderr.strip().splitlines()
    assert second.rc == 2 and "Traceback" not in second.stderr, second.stderr
    assert lines[-1].startswith(f"lmladder mlp: error: {run} is in use by another training run (process {first.pid}")
    assert lines[-1].endswith(
        "wait for it to finish, or train this one into another folder: hydra.run.dir=<a new folder>"
    )
    assert first.returncode == 0, err
    assert "val NLL" in out and (run / "metrics.json").exists() and not (run / LOCK_NAME).exists()
    # Hydra writes the second job's .hydra/ before lmladder runs; with the same overrides it is the same bytes
    assert {p.name: p.read_bytes() for p in (run / ".hydra").iterdir()} == hydra_before


def test_the_lock_is_released_and_removed_after_the_run(tmp_path):
    with run_lock(tmp_path / "run"):
        assert (tmp_path / "run" / LOCK_NAME).exists()
        assert (tmp_path / "run" / OWNER_NAME).read_text().strip() == str(os.getpid())
        with pytest.raises(RunLockedError, match=rf"run is in use by another training run \(process {os.getpid()},"):
            with run_lock(tmp_path / "run"):
                pass  # a second lock on the file: refused even in the same process
    assert not (tmp_path / "run" / LOCK_NAME).exists() and not (tmp_path / "run" / OWNER_NAME).exists()
    with run_lock(tmp_path / "run"):  # free again
        pass


HOLD = """
import sys, time
from lmladder.io import run_lock
with run_lock(sys.argv[1]):
    print("held", flush=True)
    time.sleep(600)
"""


def test_a_killed_holder_leaves_the_folder_free(tmp_path):
    """The OS releases a dead process's lock: a run killed mid-training never leaves its folder locked."""
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path / "run")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "held\n"
        with pytest.raises(RunLockedError, match=rf"\(process {holder.pid}, lock {LOCK_NAME}\)"):
            with run_lock(tmp_path / "run"):
                pass
    finally:
        holder.kill()
        holder.wait(timeout=120)
    assert (tmp_path / "run" / LOCK_NAME).exists()  # left behind by the kill, and no lock
    with run_lock(tmp_path / "run"):
        pass
