"""The MPI ranks this process was started with (mpiexec/srun), joined once before Hydra runs (startup.join_world);
a plain process is rank 0 of 1."""

from __future__ import annotations

from ..parallel import World, connect

_joined = [World()]  # the one world of this process: replaced when it joins its ranks


def current() -> World:
    return _joined[0]


def join() -> World:
    """Connect to the ranks (a LmladderError when MPI is asked for and unusable)."""
    _joined[0] = connect()
    return _joined[0]
