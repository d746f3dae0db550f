"""Standard output that cannot be written (lmladder.stdout): a full disk, a file-size limit, a closed pipe, for the
`lmladder` command and the stage scripts, whether the failing write is a print, a log line or the flush at the end.
Each ends in one line on stderr (none for a closed pipe, as any Unix filter) and a non-zero exit, never a traceback.
scenarios.py has a training run's (stdout-full, stdout-file-too-large): it leaves the run's files as they were."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from lmladder.data import CharTokenizer
from lmladder.models import build_model
from lmladder.training import make_rngs, save_training_checkpoint

from .harness import ROOT, THREADS
from .scenarios import fsize_limit

FULL = "cannot write to standard output (No space left on device); free disk space (or quota) on the device it goes to"
TOO_LARGE = "cannot write to standard output (File too large); raise the file-size limit (ulimit -f)"
TRAIN = str(ROOT / "stages" / "train.py")
HANG = 600  # seconds: a guard against a hang only


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    tok, rngs = CharTokenizer.build("abc de\n"), make_rngs(0)  # a stream model: its samples never stop early
    model = build_model("mlp", vocab_size=tok.vocab_size, rng=rngs["model"], context=3, n_embd=4, n_hidden=8)
    path = tmp_path_factory.mktemp("stdout") / "m.safetensors"
    save_training_checkpoint(path, model, tok, rngs=rngs)
    return str(path)


def _run(argv, stdout, cwd, buffered=False, preexec=None) -> tuple[int, str]:
    """`buffered`: stdout as Python sets it up for a file (written when its buffer fills, or at the end), else
    unbuffered (each write goes out at once, as under DVC and in the other reliability tests)."""
    env = {k: v for k, v in os.environ.items() if k not in ("LMLADDER_DEBUG", "PYTHONUNBUFFERED", "DVC_STAGE")}
    env |= THREADS | {"PYTHONPATH": os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")])}
    if not buffered:
        env["PYTHONUNBUFFERED"] = "1"
    p = subprocess.run(
        [sys.executable, *argv], stdout=stdout, stderr=subprocess.PIPE, env=env, cwd=cwd, timeout=HANG,
        preexec_fn=preexec, text=True,
    )  # fmt: skip
    return p.returncode, p.stderr


def _one_line(rc: int, err: str, prefix: str, message: str) -> None:
    assert rc == 2 and "Traceback" not in err, err
    assert err.count("\n") == 1 and err.startswith(f"{prefix}: error: {message}"), err


@pytest.mark.parametrize("buffered", [False, True], ids=["unbuffered", "buffered"])
@pytest.mark.parametrize(
    "args, prefix",
    [(["sample", "{ckpt}", "--num-samples", "3"], "lmladder sample"), (["--help"], "lmladder")],
    ids=["sample", "help"],
)
def test_the_command_on_a_full_disk(args, prefix, buffered, ckpt, tmp_path):
    argv = ["-m", "lmladder", *(a.format(ckpt=ckpt) for a in args)]
    with open("/dev/full", "w") as full:
        _one_line(*_run(argv, full, tmp_path, buffered), prefix, FULL)


@pytest.mark.parametrize("buffered", [False, True], ids=["unbuffered", "buffered"])
def test_the_command_past_the_file_size_limit(buffered, ckpt, tmp_path):
    out, limit = tmp_path / "out.txt", 1 << 20
    out.write_bytes(b"")
    os.truncate(out, limit)  # sparse: at the limit, yet it takes no disk
    with out.open("a") as f:
        rc, err = _run(["-m", "lmladder", "sample", ckpt], f, tmp_path, buffered, fsize_limit(limit))
    _one_line(rc, err, "lmladder sample", TOO_LARGE)
    assert out.stat().st_size == limit


@pytest.mark.parametrize("buffered", [False, True], ids=["unbuffered", "buffered"])
def test_a_stage_on_a_full_disk(buffered, tmp_path):
    with open("/dev/full", "w") as full:
        _one_line(*_run([TRAIN, "--help"], full, tmp_path, buffered), "lmladder train", FULL)


def test_a_sweep_on_a_full_disk_stops_at_hydras_first_log_line(tmp_path):
    """Hydra logs to stdout ("Launching 2 jobs locally") before any job runs: the sweep ends there."""
    argv = [TRAIN, "-m", "rung=mlp", "seed=0,1", f"hydra.sweep.dir={tmp_path}/sweep", f"paths.prepared={tmp_path}/p"]
    with open("/dev/full", "w") as full:
        _one_line(*_run(argv, full, tmp_path), "lmladder mlp", FULL)
    assert not list(tmp_path.rglob("*.safetensors")) and not (tmp_path / "p").exists()


@pytest.mark.parametrize(
    "argv", [["-m", "lmladder", "sample", "{ckpt}"], ["-m", "lmladder", "--help"], [TRAIN, "--help"]],
    ids=["sample", "help", "stage-help"],
)  # fmt: skip
@pytest.mark.parametrize("buffered", [False, True], ids=["unbuffered", "buffered"])
def test_a_closed_pipe_is_quiet(argv, buffered, ckpt, tmp_path):
    """The reader is gone before the first write (as `| head -1` once head has its line): EPIPE every time."""
    read, write = os.pipe()
    os.close(read)
    try:
        rc, err = _run([a.format(ckpt=ckpt) for a in argv], write, tmp_path, buffered)
    finally:
        os.close(write)
    assert rc == 141 and err == ""


def test_output_left_for_the_interpreter_to_flush_at_exit(tmp_path):
    """A line printed after the entry point's own flush (an atexit handler) fails in Python's final flush."""
    code = (
        "import atexit\nfrom lmladder.stdout import guarded_stdout\n"
        "with guarded_stdout('lmladder x'):\n    atexit.register(print, 'late')\n"
    )
    with open("/dev/full", "w") as full:
        _one_line(*_run(["-c", code], full, tmp_path, buffered=True), "lmladder x", FULL)
