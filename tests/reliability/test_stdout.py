"""Standard output that cannot be written (lmladder.stdout): a full disk, a file-size limit, a closed pipe, for the
`lmladder` command and the stage scripts, whether the failing write is a print, a log line or the flush at the end.
Each ends in one line on stderr (none for a closed pipe, as any Unix filter) and a non-zero exit, never a traceback.
scenarios.py has a training run's (stdout-full, stdout-file-too-large): it leaves the run's files as they were."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from lmladder.checkpoints import save_training_checkpoint
from lmladder.data import CharTokenizer
from lmladder.models import build_model
from lmladder.training import make_rngs

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


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, ckpt):
    """What every other command reads: a text, a counted model (for --to arpa), a run of the pipeline, a table."""
    d = tmp_path_factory.mktemp("inputs")
    (d / "text.txt").write_text("abc de\n" * 50)
    tok, rngs = CharTokenizer.build("abc de\n"), make_rngs(0)
    ngram = build_model("bigram", vocab_size=tok.vocab_size, rng=rngs["model"]).fit(tok.encode("abc de\n" * 20))
    save_training_checkpoint(d / "ngram.safetensors", ngram, tok, rngs=rngs)
    run = d / "outputs" / "mlp" / "seed0"
    run.mkdir(parents=True)
    split = {"nll": 2.0, "ppl": 7.39, "bpc": 2.89, "tokens": 10, "chars": 10}
    (run / "metrics.json").write_text(json.dumps({"rung": "mlp", "seed": 0, "params": 1, "val": split, "test": split}))
    (d / "a.csv").write_text("rung,n,val_nll,val_nll_std\nmlp,2,2.1,0.01\n")
    return d


COMMANDS = {  # every command of `lmladder` (a test below keeps the list whole), with what it reads
    "sample": ["sample", "{ckpt}"],
    "evaluate": ["evaluate", "{ckpt}", "--text", "{d}/text.txt"],
    "inspect": ["inspect", "{ckpt}", "--out", "{tmp}/inspect"],
    "export": ["export", "{d}/ngram.safetensors", "--to", "arpa", "{tmp}/ngram.arpa"],
    "report": ["report", "{d}/outputs", "--out", "{tmp}/report"],
    "compare": ["compare", "{d}/a.csv", "{d}/a.csv"],
    "frontier": ["frontier", "plan", "--help"],  # a study is minutes of training: its help's print stands in
    "diff": ["diff", "{ckpt}", "{d}/ngram.safetensors", "--text", "{d}/text.txt", "--out", "{tmp}/diff"],
}


def test_every_command_is_listed():
    from lmladder.cli import build_parser

    sub = next(a for a in build_parser()._actions if a.dest == "command")
    assert set(sub.choices) == set(COMMANDS)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_on_a_full_disk(command, ckpt, inputs, tmp_path):
    """What each command prints last (its result, or where it wrote it) fails: one line, whatever it wrote stays."""
    argv = ["-m", "lmladder", *(a.format(ckpt=ckpt, d=inputs, tmp=tmp_path) for a in COMMANDS[command])]
    prefix = "lmladder" if "--help" in argv else f"lmladder {command}"  # argparse's help is the parser's
    with open("/dev/full", "w") as full:
        rc, err = _run(argv, full, tmp_path, buffered=True)
    notes = "".join(line for line in err.splitlines(keepends=True) if line.startswith(f"[{command}] "))
    _one_line(rc, err.removeprefix(notes), prefix, FULL)  # inspect's notes (a picture not drawn) come first


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
