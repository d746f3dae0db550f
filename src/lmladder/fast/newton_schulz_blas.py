"""newton_schulz.py's compiled loop: the matrices of one stack orthogonalised one per turn of the one thread pool,
each product a single-threaded call into the sgemm kernels_blas.py calls (whose import loads its library)."""

from __future__ import annotations

import numpy as np
from numba import njit, prange, types

from . import gemm_library, memory
from .kernels_blas import SYMBOL, hold_openblas
from .kernels_jit import FASTMATH, twins
from .share import threads

_e, _i, _f, _p = types.int32, types.int64, types.float32, types.voidptr
# (order, trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc): C (M, N) = alpha op(A) op(B) + beta C
_sgemm = types.ExternalFunction(SYMBOL, types.void(_e, _e, _e, _i, _i, _i, _f, _p, _i, _p, _i, _f, _p, _i))
# (order, uplo, trans, N, K, alpha, A, lda, beta, C, ldc): C (N, N) = alpha A A^T + beta C, one triangle of it
_SYRK = {gemm_library.OPENBLAS_SYMBOL: "scipy_cblas_ssyrk64_", gemm_library.MKL_SYMBOL: "cblas_ssyrk_64"}[SYMBOL]
_ssyrk = types.ExternalFunction(_SYRK, types.void(_e, _e, _e, _i, _i, _f, _p, _i, _f, _p, _i))
_F = 4  # bytes per float32


def _gemm(dims, alpha, a, b, beta, c):
    """c (M, N) <- alpha a b + beta c for addresses of row-major float32 matrices, dims = (M, N, K)."""
    M, N, K = dims
    _sgemm(101, 111, 111, M, N, K, alpha, a, K, b, N, beta, c, N)


def _ns(X, table, A, B, Y):
    """Each X[i] (r, c), r <= c, normalised: X <- a X + (b A + c A A) X, A = X X^T, for each row (a, b, c) of
    table; A, B (n, r, r) and Y (n, r, c) scratch. Ends with the result in X."""
    n, r, c = X.shape
    for i in prange(n):
        x, y = X.ctypes.data + i * r * c * _F, Y.ctypes.data + i * r * c * _F
        a, b = A.ctypes.data + i * r * r * _F, B.ctypes.data + i * r * r * _F
        for s in range(table.shape[0]):
            cur, nxt = (x, y) if s % 2 == 0 else (y, x)  # X[i] and Y[i] take turns holding the iterate
            _ssyrk(101, 121, 111, r, c, 1, cur, c, 0, a, r)  # A = X X^T (r, r): its upper triangle, half a GEMM
            for p in range(1, r):
                for q in range(p):
                    A[i, p, q] = A[i, q, p]
            B[i] = A[i]
            _gemm((r, r, r), table[s, 2], a, a, table[s, 1], b)  # B = c A A + b A
            if s % 2 == 0:
                Y[i] = X[i]
            else:
                X[i] = Y[i]
            _gemm((r, c, r), 1, b, cur, table[s, 0], nxt)  # X' = B X + a X
        if table.shape[0] % 2:
            X[i] = Y[i]


_gemm = njit(inline="always", fastmath=FASTMATH, error_model="numpy")(_gemm)
# numba's cache keys the kernels by their source, not by the symbol they call: only OpenBLAS's are cached
_NS = twins(_ns, cache=SYMBOL == gemm_library.OPENBLAS_SYMBOL)


def run(X: np.ndarray, table: np.ndarray) -> None:
    """X (n, r, c) float32, r <= c, each matrix normalised: the Newton-Schulz steps of table (steps, 3) in place."""
    n, r, c = X.shape
    A, B, Y = (memory.empty(s, np.float32) for s in ((n, r, r), (n, r, r), (n, r, c)))
    hold_openblas()  # one sgemm per matrix and thread: OpenBLAS's own threads would oversubscribe the cores
    _NS[threads() > 1 and n > 1](X, table, A, B, Y)
