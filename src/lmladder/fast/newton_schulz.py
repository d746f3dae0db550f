"""Muon's Newton-Schulz iterations, batched: the matrices of one shape stacked and orthogonalised in one compiled
call on the one thread pool (kernels_blas.py's), a matrix per turn, each product one single-threaded sgemm that
folds the step's scalars in: B = b A + c A A and X = a X + B X are one sgemm each (alpha, beta), so a step is three
sgemm calls and two copies, where the textbook lines (nn/muon.py's newton_schulz) make four passes more over the
matrices and a dozen Python calls. The products are the textbook's; the scalar sums round inside sgemm: new bits,
to float32 rounding. Where kernels_blas cannot load (NumPy's BLAS is not its wheels' OpenBLAS) the textbook's
function runs on the cores instead (threads.map_on_cores)."""

from __future__ import annotations

import numpy as np

from . import memory
from .kernels import blas
from .threads import map_on_cores


def orthogonalise(jobs: list, consts: tuple, one) -> list:
    """[one(job) for job in jobs] to float32 rounding, job = (G, steps, coeffs name) with G a float32 matrix;
    consts = (the coefficient sets by name, each a tuple of (a, b, c), the safety factors by name, eps), as
    nn/muon.py's newton_schulz reads them."""
    k = blas(jobs[0][0])
    if k is None or any(g.dtype != np.float32 or g.ndim != 2 for g, _, _ in jobs):
        return map_on_cores(one, jobs, jobs[0][0])
    from .newton_schulz_blas import run

    quintics, safety, eps = consts
    groups: dict = {}  # (rows, cols, steps, coeffs) -> indices of the jobs; wide as the textbook turns them
    for i, (g, steps, coeffs) in enumerate(jobs):
        r, c = sorted(g.shape)
        groups.setdefault((r, c, steps, coeffs), []).append(i)
    done: list = [None] * len(jobs)
    for (r, c, steps, name), idx in groups.items():
        table = np.array([quintics[name][min(s, len(quintics[name]) - 1)] for s in range(steps)], np.float32)
        X = memory.empty((len(idx), r, c), np.float32)  # (n, r, c), r <= c: X X^T the smaller Gram matrix
        for n, i in enumerate(idx):
            g = jobs[i][0]
            x = g.T if g.shape[0] > g.shape[1] else g
            np.divide(x, np.linalg.norm(x) * safety[name] + eps, out=X[n])  # the textbook's normalisation
        run(X, table)
        for n, i in enumerate(idx):  # views: they keep X from the pool while the caller holds them
            done[i] = X[n].T if jobs[i][0].shape[0] > jobs[i][0].shape[1] else X[n]
    return done
