"""Data-parallel training over MPI ranks (mpi4py): every rank holds the whole model, computes the gradients of its
share of the global batch, and the shares are summed so that every rank applies the same update.

The contract that makes N ranks reproducible and comparable with one process:
- every rank draws the whole global batch from the shared batch Generator and keeps its own micro-batches, so
  N ranks x grad_accum A see exactly the micro-batches one process with grad_accum N*A sees, in the same order;
- gradients are summed in rank order 0, 1, ..., N-1 (`MpiWorld.sum`), never in the order messages arrive, so the
  same seed and world size give the same bits run after run;
- rank 0 alone writes (logs, checkpoints, metrics); the other ranks' dropout Generators (their own streams, so
  their masks differ) travel in rank 0's checkpoints, so resuming is bit-exact too.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

import numpy as np

from .errors import LmladderError
from .resources import usable_cores

# set by mpiexec/mpirun (MPICH's hydra: PMI_*, Open MPI: OMPI_*, PMIx launchers and srun --mpi=pmix: PMIX_*)
# and by srun for every task it starts (SLURM_*)
_LAUNCHER_ENV = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "SLURM_STEP_NUM_TASKS")
_THREAD_ENV = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
_RUNNING = ("running_mean", "running_var")  # BatchNorm1d's buffers


class ParallelError(LmladderError, RuntimeError):
    """MPI cannot be used as asked (mpi4py missing, a checkpoint of another world size)."""


class World:
    """One process: rank 0 of 1. The training loop talks to other ranks only through these methods."""

    rank, size = 0, 1
    threads: int | None = None  # threads per rank when share_cores set them
    _grads: np.ndarray | None = None  # sum_grads's message buffer

    @property
    def lead(self) -> bool:
        """The rank that writes logs, checkpoints and reports."""
        return self.rank == 0

    def sum(self, a: np.ndarray) -> np.ndarray:
        """a summed over the ranks, in rank order (the same bits on every rank)."""
        return a

    def sum_in_place(self, a: np.ndarray) -> None:
        """a <- `sum(a)` (a contiguous)."""

    def gather(self, obj: Any) -> list:
        """[obj of rank 0, obj of rank 1, ...] on every rank."""
        return [obj]

    def bcast(self, obj: Any) -> Any:
        """Rank 0's obj, on every rank."""
        return obj

    def abort(self, code: int) -> None:
        sys.exit(code)


class MpiWorld(World):
    def __init__(self, comm, shared_type: int):
        self.comm = comm
        self.rank, self.size = comm.Get_rank(), comm.Get_size()
        self.local_size = comm.Split_type(shared_type).Get_size()  # ranks on this machine

    def share_cores(self) -> int | None:
        """Give each rank on a machine its share of the cores for BLAS (two ranks each running two BLAS threads on
        two cores thrash), unless the user set a thread count; returns the threads per rank it set, or None."""
        if any(os.environ.get(k) for k in _THREAD_ENV):
            return None
        from threadpoolctl import threadpool_limits

        n = max(1, usable_cores() // self.local_size)
        threadpool_limits(n)
        self.threads = n  # training/run.py gives the compiled kernels' threaded loops the same share
        return n

    def sum_in_place(self, a: np.ndarray) -> None:
        if self.size == 2:  # no second buffer: MPI reads and writes a (a fresh one per step cost ~5 ms here)
            from mpi4py import MPI

            self.comm.Allreduce(MPI.IN_PLACE, a)
        else:
            a[...] = self.sum(a)

    def sum(self, a: np.ndarray) -> np.ndarray:
        if self.size == 2:  # one addition per element, and a0 + a1 == a1 + a0 bit for bit: MPI's own is exact
            out = np.empty_like(a)
            self.comm.Allreduce(np.ascontiguousarray(a), out)
            return out
        # Reduce-scatter by hand, then all-gather: each rank sums one chunk of the vector from every rank in rank
        # order (MPI's own Allreduce may add in any order), and the same 2(N-1)/N of the vector crosses the wire
        # as in a ring all-reduce.
        n, N = a.size, self.size
        c = -(-n // N)  # chunk per rank
        send = np.zeros((N, c), a.dtype)  # (N, c): row j goes to rank j
        send.reshape(-1)[:n] = a.reshape(-1)
        recv = np.empty_like(send)  # (N, c): row i is my chunk as rank i holds it
        self.comm.Alltoall(send, recv)
        mine = recv[0].copy()
        for row in recv[1:]:
            mine += row
        out = np.empty_like(send)
        self.comm.Allgather(mine, out)
        return out.reshape(-1)[:n].reshape(a.shape)

    def gather(self, obj: Any) -> list:
        return self.comm.allgather(obj)

    def bcast(self, obj: Any) -> Any:
        return self.comm.bcast(obj, root=0)

    def abort(self, code: int) -> None:
        # sys.exit would wait in MPI_Finalize for ranks that are waiting for this one: MPI_Abort ends them all.
        # mpiexec kills the ranks on an abort without draining their pipes; under load it dropped this rank's last
        # line (1 in 40 aborts here), so give its forwarder a moment to pass it on (0 in 60 with the pause).
        sys.stdout.flush()
        sys.stderr.flush()
        time.sleep(0.5)
        self.comm.Abort(code)


def connect(environ: dict | None = None) -> World:
    """The world this process was started in: MpiWorld under mpiexec/srun with more than one rank, else World()."""
    env = os.environ if environ is None else environ
    if not any(env.get(k) for k in _LAUNCHER_ENV):
        return World()  # no MPI_Init (and no mpi4py import) for a plain process
    try:
        from mpi4py import MPI
    except ImportError:
        raise ParallelError(
            "started by an MPI launcher but mpi4py is not installed; pip install -e '.[mpi]' (brings mpi4py and "
            "MPICH's mpiexec), or run without mpiexec"
        ) from None
    if MPI.COMM_WORLD.Get_size() == 1:
        tasks = env.get("SLURM_STEP_NUM_TASKS", "1")
        if tasks.isdigit() and int(tasks) > 1:  # srun started the tasks, but without a PMI MPI can use
            raise ParallelError(
                f"srun started {tasks} tasks but MPI sees each as a world of its own, so they would train "
                f"{tasks} separate models; use srun --mpi=pmix (or pmi2; srun --mpi=list shows yours)"
            )
        return World()
    world = MpiWorld(MPI.COMM_WORLD, MPI.COMM_TYPE_SHARED)
    world.share_cores()
    return world


def rank_stream(seed: int, rank: int) -> np.random.Generator:
    """The dropout (and any other in-training) Generator of rank > 0: its own stream of `seed`, apart from the
    four of make_rngs. Rank 0 keeps the model Generator, so a 1-rank run is the plain run."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(1000, rank)))


def sum_grads(params: list, world: World) -> None:
    """Every parameter's gradient summed over the ranks in place, through one flat message (one per step, not
    one per parameter) in a buffer kept for the run. A parameter without a gradient here sends zeros and gets the
    others' sum, if any."""
    if world.size == 1:
        return
    flat = _flat_buffer(world, sum(p.data.size for p in params), np.result_type(*{p.data.dtype for p in params}))
    i = 0
    for p in params:
        part = flat[i : i + p.data.size]
        i += p.data.size
        if p.grad is None:
            part.fill(0)
        else:
            part[...] = p.grad.reshape(-1)
    world.sum_in_place(flat)
    i = 0
    for p in params:
        part = flat[i : i + p.data.size].reshape(p.data.shape)
        i += p.data.size
        if p.grad is not None:
            p.grad[...] = part
        elif part.any():
            p.grad = part.copy()


def _flat_buffer(world: World, n: int, dtype) -> np.ndarray:
    """The gradient message buffer of n elements, made once per world: with a fresh one every step the sum took
    7.5 ms instead of 2 (nanogpt_cpu, 2 ranks, benchmarks/README.md)."""
    buf = world._grads
    if buf is None or buf.size != n or buf.dtype != dtype:
        buf = world._grads = np.empty(n, dtype)
    return buf


def sum_scalars(world: World, loss: float, tokens: int) -> tuple[float, int]:
    """A step's loss and token count over the whole global batch (float64, rank order)."""
    if world.size == 1:
        return loss, tokens
    total = world.sum(np.array([loss, tokens], np.float64))
    return float(total[0]), int(total[1])


def rank_state(world: World, rngs: dict[str, np.random.Generator]) -> dict:
    """The checkpoint metadata that lets N ranks resume: the world size and the dropout streams of ranks 1..N-1
    (rank 0's Generators are saved as a plain run's). Collective: every rank calls it at the same steps."""
    if world.size == 1:
        return {}  # a plain run's checkpoint stays as it was
    states = world.gather(rngs["model"].bit_generator.state)
    return {"world_size": world.size, "rank_rngs": states[1:]}


def restored_rank_state(meta: dict, rank: int, seed: int | None, path: Any) -> dict:
    """Rank `rank`'s dropout stream from checkpoint metadata; a rank the checkpoint did not have (a run resumed on
    more ranks with reshard=true) starts its own stream from the seed."""
    states = meta.get("rank_rngs") or []
    if rank - 1 < len(states):
        state = states[rank - 1]
        if not isinstance(state, dict) or "state" not in state:
            raise ParallelError(f"{path}: its rank_rngs entry for rank {rank} is not a Generator state; retrain")
        return state
    return rank_stream(seed or 0, rank).bit_generator.state


def running_stats(norms: list) -> list[np.ndarray]:
    """Copies of the running statistics of `norms` (BatchNorm1d modules) before a step: sync_running_stats' start."""
    return [getattr(m, k).copy() for m in norms for k in _RUNNING]


def sync_running_stats(world: World, norms: list, before: list[np.ndarray], accum: int) -> None:
    """BatchNorm's running statistics as one process with grad_accum = accum x N would leave them: its micro-batches
    update them one after another, r = (1-m) r + m s. Rank k's A updates left r_k = (1-m)^A r0 + c_k, so the
    sequence over the ranks is (1-m)^(NA) r0 + sum_k (1-m)^((N-1-k)A) c_k: each rank sends its weighted c_k."""
    if world.size == 1 or not norms:
        return
    bufs = [(getattr(m, k), 1 - m.momentum) for m in norms for k in _RUNNING]  # (buffer, what an update keeps)
    parts = []
    for (buf, keep), r0 in zip(bufs, before, strict=True):
        c = buf.astype(np.float64) - keep**accum * r0  # this rank's A updates, less what they left of the start
        parts.append((keep**accum) ** (world.size - 1 - world.rank) * c.reshape(-1))
    total = world.sum(np.concatenate(parts))
    i = 0
    for (buf, keep), r0 in zip(bufs, before, strict=True):
        buf[...] = (keep ** (accum * world.size) * r0 + total[i : i + buf.size].reshape(buf.shape)).astype(buf.dtype)
        i += buf.size
