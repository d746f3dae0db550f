"""The stages and commands that touch the OS, run as on macOS and Windows: with the Linux-only APIs removed from every
process at start-up (tests/no_linux/sitecustomize.py: os.sched_getaffinity, os.O_NONBLOCK, os.pread/pwrite, fcntl,
lmladder's reads of /proc and /sys). Prepare from a file (in memory and a chunk at a time), a training run under its
run lock, the data cache's lock between two jobs, evaluate, export, the memory check. A new Linux-only call in
lmladder fails here, not on a user's laptop. Real processes, real files, real training."""

import ast
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from .shared_data import shared_file

ROOT = Path(__file__).resolve().parents[1]
NO_LINUX = ROOT / "tests" / "no_linux"
THREADS = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}  # the CPU is shared
TINY = [
    "mlp.model.n_hidden=16",
    "mlp.train.max_iters=20",
    "mlp.train.eval.interval=10",
    "mlp.train.eval.iters=2",
    "mlp.train.checkpoint.interval=10",
    "mlp.sample.num_samples=2",
    "mlp.sample.sample_tokens=20",
    "mlp.train.progress=false",
    "bigram.sample.num_samples=2",
]
HANG = 600  # seconds: a guard against a hang, never a speed check
# the tests that read the module's sandbox: prepare and two trainings in fresh processes, ~60 s before the first one
SANDBOX = pytest.mark.slow


def env() -> dict:
    keep = {k: v for k, v in os.environ.items() if k not in ("DVC_STAGE", "LMLADDER_DEBUG", "HYDRA_FULL_ERROR")}
    path = os.pathsep.join([str(NO_LINUX), *filter(None, [keep.get("PYTHONPATH")])])
    return keep | THREADS | {"PYTHONPATH": path, "PYTHONUNBUFFERED": "1"}


def popen(args, cwd: Path, **kw) -> subprocess.Popen:
    """`python ARGS` in `cwd` without the Linux-only APIs; text pipes."""
    pipes = dict(stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return subprocess.Popen([sys.executable, *map(str, args)], cwd=cwd, env=env(), **pipes, **kw)


def run(args, cwd: Path, io: str | None = None) -> subprocess.CompletedProcess:
    """`python ARGS` to its end; `io`: the encoding of its stdout and stderr (PYTHONIOENCODING), else UTF-8."""
    more = {"PYTHONIOENCODING": io} if io else {}
    return subprocess.run([sys.executable, *map(str, args)], cwd=cwd, env=env() | more, capture_output=True,
                          encoding=io or "utf-8", timeout=HANG, stdin=subprocess.DEVNULL)  # fmt: skip


def stage(sb: Path, script: str, *overrides: str, run_dir: str) -> list[str]:
    """A stage's command line in the sandbox: its corpus, prepared data and outputs inside it."""
    base = ["data.source=file", f"data.path={sb}/corpora/names.txt", f"paths.prepared={sb}/data/prepared",
            f"paths.outputs={sb}/outputs", f"paths.reports={sb}/outputs/reports", *TINY]  # fmt: skip
    return [sb / "stages" / script, *base, *overrides, f"hydra.run.dir={run_dir}"]


HOLD = """
import sys, filelock
from lmladder.io import run_lock
with (run_lock(sys.argv[2]) if sys.argv[1] == "run" else filelock.FileLock(sys.argv[2])):
    print("held", flush=True)
    sys.stdin.readline()
"""


def holder(kind: str, path: Path, cwd: Path) -> subprocess.Popen:
    """A process that holds lmladder's run lock of a folder ("run") or the data cache's lock file ("cache", as
    lmladder takes it: filelock.FileLock) until a line arrives on its stdin."""
    p = popen(["-c", HOLD, kind, path], cwd)
    assert p.stdout.readline() == "held\n", p.communicate(timeout=HANG)[1]
    return p


def release(p: subprocess.Popen) -> None:
    p.communicate("\n", timeout=HANG)
    assert p.returncode == 0


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory) -> dict:
    """conf/ and stages/ copies and a names corpus; then, without the Linux-only APIs: `prepare` from the file, the
    mlp trained while another job holds the data cache's lock, and the bigram trained from the cache."""
    sb = tmp_path_factory.mktemp("no_linux")
    for d in ("conf", "stages"):
        shutil.copytree(ROOT / d, sb / d, ignore=shutil.ignore_patterns("__pycache__"))
    (sb / "corpora").mkdir()
    names = shared_file("names.txt").read_text(encoding="utf-8").splitlines()[:1500]
    (sb / "corpora" / "names.txt").write_text("\n".join(names) + "\n", encoding="utf-8")
    out = {"root": sb, "prepare": run(stage(sb, "prepare.py", run_dir=f"{sb}/runs/prepare"), sb)}
    assert out["prepare"].returncode == 0, out["prepare"].stderr
    (entry,) = [p for p in (sb / "data" / "cache").iterdir() if p.is_dir()]
    out["cache"] = entry.name
    # the cache entry again, as a second sweep job finds it while the first one prepares it: it waits for the lock
    shutil.rmtree(entry)
    first = holder("cache", entry.with_name(entry.name + ".lock"), sb)
    guard = threading.Timer(HANG, first.kill)  # should the job never say it waits: the lock goes with its holder
    guard.start()
    train = popen(stage(sb, "train.py", "rung=mlp", run_dir=f"{sb}/outputs/mlp/seed0"), sb)
    before = []  # its output up to the line that says it waits (or to its end, should it not wait)
    while (line := train.stdout.readline()) and not line.startswith("waiting for"):
        before.append(line)
    out["alive_while_held"] = train.poll() is None
    guard.cancel()
    release(first)
    rest, err = train.communicate(timeout=HANG)
    out["mlp"] = subprocess.CompletedProcess(train.args, train.returncode, "".join([*before, line, rest]), err)
    out["bigram"] = run(stage(sb, "train.py", "rung=bigram", run_dir=f"{sb}/outputs/bigram/seed0"), sb)
    return out


def test_the_apis_are_gone_in_the_processes_it_starts(tmp_path):
    probe = (
        "import os, filelock; print(hasattr(os, 'O_NONBLOCK'), hasattr(os, 'sched_getaffinity'), filelock.has_fcntl)"
    )
    r = run(["-c", probe], tmp_path)
    assert r.stdout.split() == ["False", "False", "False"], r.stderr


def test_the_cpu_is_named_without_proc(tmp_path):
    """Where /proc/cpuinfo cannot be read, the CPU's name is platform's (what a GEMM peak and a frontier plan's
    tokens/s are keyed by), not an error."""
    probe = "import platform; from lmladder.resources import cpu_model; print(cpu_model() == (platform.processor() "
    r = run(["-c", probe + "or platform.machine() or 'unknown'))"], tmp_path)
    assert r.stdout.strip() == "True", r.stderr


@SANDBOX
def test_prepare_from_a_file(sandbox):
    r = sandbox["prepare"]
    assert f"data/cache/{sandbox['cache']}: char vocab 27" in r.stdout, r.stdout + r.stderr


@SANDBOX
def test_a_second_job_waits_for_the_data_cache_lock_then_trains(sandbox):
    r = sandbox["mlp"]
    lines = r.stdout.splitlines()
    assert r.returncode == 0, r.stderr
    waiting = [line for line in lines if line.startswith("waiting for another process that prepares ")]
    assert len(waiting) == 1 and waiting[0].endswith(sandbox["cache"]), r.stdout
    assert sandbox["alive_while_held"]  # it waited for the lock instead of preparing beside the other job
    assert any(line.startswith("preparing names into") for line in lines)  # the holder left without preparing it
    assert any(line.startswith("kernels: compiled, GEMMs by NumPy's OpenBLAS; ") for line in lines)
    assert "[mlp] val NLL" in r.stdout
    run_dir = sandbox["root"] / "outputs" / "mlp" / "seed0"
    assert (run_dir / "model.safetensors").exists() and not (run_dir / ".lmladder.lock").exists()


@SANDBOX
def test_a_second_run_into_a_busy_folder_is_refused(sandbox):
    sb = sandbox["root"]
    folder = sb / "runs" / "busy"
    first = holder("run", folder, sb)
    try:
        r = run(stage(sb, "train.py", "rung=mlp", run_dir=str(folder)), sb)
    finally:
        release(first)
    assert r.returncode == 2, r.stderr
    said = f"lmladder mlp: error: {folder} is in use by another training run (process {first.pid}, lock "
    assert r.stderr.strip().splitlines()[-1].startswith(said), r.stderr
    assert not (folder / "model.safetensors").exists()
    r = run(stage(sb, "train.py", "rung=bigram", run_dir=str(folder)), sb)  # free once its holder has gone
    assert r.returncode == 0, r.stderr


@SANDBOX
def test_evaluate_and_export(sandbox):
    sb = sandbox["root"]
    assert sandbox["bigram"].returncode == 0, sandbox["bigram"].stderr
    # its output in a pipe whose encoding lacks the table's Δ, as Windows' cp1252 does
    r = run(stage(sb, "evaluate.py", "pipeline=[bigram,mlp]", run_dir=f"{sb}/runs/evaluate"), sb, io="cp1252")
    assert r.returncode == 0, r.stderr
    assert "| mlp " in r.stdout and "| bigram " in r.stdout and "\\u0394 val NLL vs previous" in r.stdout
    assert (sb / "runs" / "evaluate" / "perplexity.csv").exists()
    r = run(["-m", "lmladder", "export", sb / "outputs" / "bigram" / "seed0", "--to", "arpa", sb / "ngram.arpa"], sb)
    assert r.returncode == 0, r.stderr
    assert (sb / "ngram.arpa").read_text(encoding="utf-8").startswith("\\data\\")


@SANDBOX
def test_the_memory_check_reads_the_os_and_refuses_what_cannot_fit(sandbox):
    """Where /proc/meminfo cannot be read, the available memory still comes from the OS (psutil), so a batch that
    cannot fit is refused before it is allocated."""
    sb = sandbox["root"]
    probe = run(["-c", "from lmladder.resources import available_bytes; print(available_bytes())"], sb)
    have = float(probe.stdout)
    assert 0 < have < float("inf"), probe.stderr
    r = run(stage(sb, "train.py", "rung=mlp", "mlp.train.batch_size=4000000000", run_dir=f"{sb}/runs/huge"), sb)
    assert r.returncode == 2, r.stderr
    assert "of memory, but" in r.stderr.strip().splitlines()[-1], r.stderr


@pytest.mark.parametrize("kind", ["stream", "lines"])
def test_prepare_a_chunk_at_a_time(tmp_path, kind):
    """Corpora of 32 MiB and more are prepared a chunk at a time, by as many workers as the process has cores."""
    text = shared_file("tinyshakespeare.txt" if kind == "stream" else "names.txt")
    code = """
import sys
from lmladder.data.streaming import prepare_file
from lmladder.data.streaming_lines import prepare_lines_file
prep = prepare_file if sys.argv[1] == "stream" else prepare_lines_file
stats = prep(sys.argv[2], tokenizer="bpe", vocab_size=300, fractions=[0.9, 0.1], out_dir="out", source="test")
print(stats["vocab_size"])
"""
    r = run(["-c", code, kind, text], tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["300"] and (tmp_path / "out" / "train.npy").exists()


def _names_no_encoding(call: ast.Call) -> bool:
    """Whether `call` reads or writes text without naming its encoding: open(f), open(f, "w"), p.open("r"),
    p.read_text(), p.write_text(s)."""
    if any(k.arg == "encoding" for k in call.keywords):
        return False
    func = call.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    if name in ("read_text", "write_text"):
        return True
    if name != "open":
        return False
    modes = [
        *call.args[1 if isinstance(func, ast.Name) else 0 :][:1],
        *(k.value for k in call.keywords if k.arg == "mode"),
    ]
    if not modes:
        return isinstance(func, ast.Name)  # open(f): text; x.open() is not always a file's
    return isinstance(modes[-1], ast.Constant) and "b" not in str(modes[-1].value)


def test_every_text_file_names_its_encoding():
    """Windows reads and writes text in its ANSI code page unless told otherwise: lmladder's files are UTF-8."""
    found = [f"{f.relative_to(ROOT)}:{node.lineno}: {ast.unparse(node)}"
             for f in sorted([*(ROOT / "src").rglob("*.py"), *(ROOT / "stages").rglob("*.py")])
             for node in ast.walk(ast.parse(f.read_text(encoding="utf-8")))
             if isinstance(node, ast.Call) and _names_no_encoding(node)]  # fmt: skip
    assert not found, "open or read/write text without encoding=:\n" + "\n".join(found)
