"""Data-parallel training over real MPI ranks (mpiexec from the `mpi` extra, 2 ranks on this machine): N ranks equal
one process with grad_accum=N, the same seed gives the same bytes, a killed rank ends the others promptly and the
run resumes bit for bit, and a checkpoint of another world size is refused unless reshard=true."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from lmladder.io import load_checkpoint
from lmladder.parallel import World, connect

pytest.importorskip("mpi4py")
ROOT = Path(__file__).resolve().parents[2]
MPIEXEC = Path(sys.executable).parent / "mpiexec"
pytestmark = pytest.mark.skipif(not MPIEXEC.exists(), reason="no mpiexec beside python (pip install -e '.[mpi]')")
MLP = [
    "rung=mlp",
    "mlp.train.max_iters=60",
    "mlp.train.batch_size=16",
    "mlp.train.eval.interval=20",
    "mlp.train.eval.iters=4",
    "mlp.train.checkpoint.interval=20",
    "mlp.train.progress=false",
    "mlp.sample.num_samples=2",
]


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """paths.prepared= shared by the module's runs, so the names corpus is prepared once."""
    d = tmp_path_factory.mktemp("mpi") / "data" / "prepared"
    return f"paths.prepared={d}"


def train(args, run_dir: Path, ranks: int = 0, **kw) -> subprocess.CompletedProcess:
    """stages/train.py under `mpiexec -n ranks` (0: a plain process), into run_dir."""
    cmd = [sys.executable, str(ROOT / "stages" / "train.py"), *args, f"hydra.run.dir={run_dir}"]
    if ranks:
        cmd = [str(MPIEXEC), "-n", str(ranks), *cmd]
    return subprocess.run(cmd, cwd=run_dir.parent, capture_output=True, text=True, timeout=300, **kw)


def ok(r: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    return r


def test_a_plain_process_is_one_rank_without_mpi():
    w = connect({"PATH": "/usr/bin"})
    assert type(w) is World and (w.rank, w.size, w.lead) == (0, 1, True)
    a = np.arange(5.0)
    assert w.sum(a) is a and w.gather(3) == [3] and w.bcast("x") == "x"


def test_sum_adds_in_rank_order_on_every_rank(tmp_path):
    # float32 values where the order of addition shows: 1e8 + 1 - 1e8 is 0 left to right, not 1
    script = tmp_path / "sum.py"
    script.write_text(
        "import json, numpy as np\n"
        "from lmladder.parallel import connect\n"
        "w = connect()\n"
        "v = np.array([[1e8, 3.0], [1.0, 5.0], [-1e8, 7.0]], np.float32)[w.rank]\n"
        "s = w.sum(np.repeat(v[None], 3, 0)).tolist()\n"
        f"open(f'{tmp_path}/rank{{w.rank}}.json', 'w').write(json.dumps([w.rank, s]))\n"
    )
    ok(subprocess.run([str(MPIEXEC), "-n", "3", sys.executable, str(script)], capture_output=True, text=True))
    rows = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(3)]
    vals = np.array([[1e8, 3.0], [1.0, 5.0], [-1e8, 7.0]], np.float32)
    expect = (vals[0] + vals[1]) + vals[2]
    assert sorted(rank for rank, _ in rows) == [0, 1, 2]
    for _, got in rows:
        assert np.array_equal(np.array(got, np.float32), np.repeat(expect[None], 3, 0))


@pytest.mark.slow  # 15-30 s of real training runs: CI's slow pass
def test_two_ranks_equal_grad_accum_2_and_repeat_to_the_bit(tmp_path, prepared):
    r2, again, accum = tmp_path / "r2", tmp_path / "r2_again", tmp_path / "accum2"
    out = ok(train([*MLP, prepared], r2, ranks=2))
    assert out.stdout.count("val NLL") == 1 and "step 60: train loss" in out.stdout  # rank 0 alone speaks
    ok(train([*MLP, prepared], again, ranks=2))
    ok(train([*MLP, prepared, "mlp.train.grad_accum=2"], accum))
    for f in ("model.safetensors", "best.safetensors", "train_log.tsv", "eval_log.tsv", "samples.txt"):
        assert (r2 / f).read_bytes() == (again / f).read_bytes(), f
    assert_float32_close(r2 / "model.safetensors", accum / "model.safetensors")
    assert (r2 / "eval_log.tsv").read_text() == (accum / "eval_log.tsv").read_text()  # to the printed digits
    assert load_checkpoint(r2 / "model.safetensors")[1]["world_size"] == 2
    assert "world_size" not in load_checkpoint(accum / "model.safetensors")[1]  # a plain run's file is as it was


def assert_float32_close(a_path: Path, b_path: Path, atol: float = 2e-6) -> None:
    """The same micro-batches, summed in another order (ranks add whole micro-batch gradients and running-stat
    updates, one process adds each term onto the running sum): after 40-60 steps every weight and BatchNorm
    statistic agrees to `atol` (measured: 2.4e-7 for the MLP, 8.3e-7 for WaveNet's running means; weights of
    magnitude up to ~3, where a float32 ulp is 2.4e-7)."""
    a, b = load_checkpoint(a_path)[0], load_checkpoint(b_path)[0]
    keys = [k for k in b if k.startswith("model.")]
    assert keys and set(keys) <= set(a)
    for k in keys:
        assert np.abs(a[k].astype(np.float64) - b[k]).max() <= atol, k


@pytest.mark.slow  # 15-30 s of real training runs: CI's slow pass
def test_two_ranks_keep_batchnorm_statistics_as_grad_accum_does(tmp_path, prepared):
    wavenet = ["rung=wavenet", "wavenet.train.max_iters=40", "wavenet.train.eval.interval=20"]
    wavenet += ["wavenet.train.eval.iters=4", "wavenet.train.progress=false", "wavenet.sample.num_samples=2"]
    wavenet += ["wavenet.train.batch_size=16", prepared]
    ok(train(wavenet, tmp_path / "r2", ranks=2))
    ok(train([*wavenet, "wavenet.train.grad_accum=2"], tmp_path / "accum2"))
    assert_float32_close(tmp_path / "r2" / "model.safetensors", tmp_path / "accum2" / "model.safetensors")


@pytest.mark.slow  # 15-30 s of real training runs: CI's slow pass
def test_killed_rank_ends_the_others_and_the_run_resumes_bit_for_bit(tmp_path, prepared):
    long = [
        *MLP,
        prepared,
        "mlp.train.max_iters=1500",
        "mlp.train.checkpoint.interval=100",
        "mlp.train.eval.interval=500",
    ]
    whole, run = tmp_path / "whole", tmp_path / "killed"
    ok(train(long, whole, ranks=2))
    cmd = [str(MPIEXEC), "-n", "2", sys.executable, str(ROOT / "stages" / "train.py"), *long, f"hydra.run.dir={run}"]
    p = subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not (run / "model.safetensors").exists() and p.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        victim = next((int(q.name) for q in Path("/proc").iterdir() if q.name.isdigit() and _is_rank(q, 1, run)), None)
        assert victim is not None and p.poll() is None, "rank 1 not found while training"
        os.kill(victim, signal.SIGKILL)
        rc = p.wait(timeout=600)  # a hang guard: the survivor must not wait in MPI for the dead rank forever
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
    assert rc != 0, rc
    assert not list(run.glob("*.tmp*")) and not list(run.glob(".*.tmp*"))  # no half-written file
    meta = load_checkpoint(run / "model.safetensors")[1]  # complete and loadable
    assert 0 < meta["step"] < 1500
    out = ok(train([*long, "resume=true"], run, ranks=2))
    assert f"resumed from {run / 'model.safetensors'} at step {meta['step']}" in out.stdout
    assert (run / "model.safetensors").read_bytes() == (whole / "model.safetensors").read_bytes()


def _is_rank(proc: Path, rank: int, run: Path) -> bool:
    try:
        env = (proc / "environ").read_bytes().split(b"\0")
        cmdline = (proc / "cmdline").read_bytes()
    except OSError:
        return False
    return f"PMI_RANK={rank}".encode() in env and f"hydra.run.dir={run}".encode() in cmdline


@pytest.mark.slow  # 15-30 s of real training runs: CI's slow pass
def test_another_world_size_is_refused_unless_resharded(tmp_path, prepared):
    r2 = tmp_path / "r2"
    ok(train([*MLP, prepared], r2, ranks=2))
    ckpt = r2 / "model.safetensors"
    longer = [*MLP, prepared, "mlp.train.max_iters=80"]
    r = train([*longer, f"resume={ckpt}"], tmp_path / "one")
    assert r.returncode == 2
    assert "it was trained on 2 rank(s), this run has 1; resume it with mpiexec -n 2, or pass reshard=true" in r.stderr
    out = ok(train([*longer, f"resume={ckpt}", "reshard=true"], tmp_path / "one_resharded"))
    assert "resumed from" in out.stdout and "at step 60" in out.stdout


def test_a_bad_config_ends_every_rank_with_one_message(tmp_path, prepared):
    r = train([*MLP, prepared, "mlp.train.batch_size=0"], tmp_path / "bad", ranks=2)  # (its timeout: a hang guard)
    assert r.returncode == 2
    assert r.stderr.count("lmladder mlp: error: mlp.train.batch_size") == 1, r.stderr


def test_sweeps_and_count_models_under_mpiexec_are_refused(tmp_path, prepared):
    r = train([*MLP, prepared, f"hydra.sweep.dir={tmp_path / 'sweep'}", "seed=0,1", "-m"], tmp_path / "s", ranks=2)
    assert r.returncode == 2 and r.stderr.count("lmladder train: error: -m under mpiexec") == 1, r.stderr
    r = train(["rung=bigram", prepared], tmp_path / "bigram", ranks=2)
    assert r.returncode == 2 and "counted, not trained" in r.stderr and "run it without mpiexec" in r.stderr


def test_srun_tasks_without_mpi_are_refused(tmp_path):
    # srun -n 2 without --mpi=...: every task is a world of one and would train a model of its own
    env = {**os.environ, "SLURM_STEP_NUM_TASKS": "2"}
    code = "from lmladder.parallel import connect; connect()"
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert r.returncode != 0 and "srun started 2 tasks but MPI sees each as a world of its own" in r.stderr
    assert "use srun --mpi=pmix" in r.stderr
