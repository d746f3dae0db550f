"""One thread pool for a whole training step: GEMMs and attention split over numba's threads, every piece a
single-threaded call into NumPy's own OpenBLAS (float32), or into MKL's with LMLADDER_GEMM=mkl (gemm_library.py).

Why: NumPy's OpenBLAS keeps its own pthread pool, numba another. Both spin for a while after a parallel call so
that the next one starts at once, and on 2 cores each library's spinning workers take the second core from the
other (benchmarks/README.md, "One thread pool"): the element-wise kernels would stay on one core, and attention's
per-head GEMMs, too small for OpenBLAS to thread, would run one head at a time. Here OpenBLAS is held to one thread
and numba's pool does all the splitting, as PyTorch's one OpenMP pool does: GEMM rows in fixed chunks, attention by
(batch, head), element-wise kernels by chunk (kernels_jit.py), so the pool stays warm from one call to the next.

NumPy's wheels ship OpenBLAS with 64-bit integers and renamed symbols (scipy-openblas); gemm_library.py finds
that library through threadpoolctl, and this module calls its `scipy_cblas_sgemm64_` (or MKL's `cblas_sgemm_64`)
from compiled code. Where NumPy has another BLAS, importing this module raises ImportError and kernels.py keeps
NumPy's matmul and attention_core.py. A decoded token's attention (`decode_attention`) runs on the calling thread
and calls that OpenBLAS's `scipy_cblas_sgemv64_` exactly as NumPy's matmul would, whatever LMLADDER_GEMM says.
"""

from __future__ import annotations

import llvmlite.binding as llvm
import numpy as np
from numba import njit, prange, types
from threadpoolctl import ThreadpoolController

from . import gemm_library
from .kernels_jit import FASTMATH, exp_neg, twins
from .kernels_jit import softmax_cols as jit_softmax_cols
from .share import threads, width

ROW_MAJOR, COL_MAJOR, NO_TRANS, TRANS = 101, 102, 111, 112  # cblas enums

GEMM_LIBRARY, SYMBOL = gemm_library.library()
# NumPy's OpenBLAS, held to one thread during a step (it still runs the small products)
LIBRARY = GEMM_LIBRARY if SYMBOL == gemm_library.OPENBLAS_SYMBOL else gemm_library.openblas()
llvm.load_library_permanently(GEMM_LIBRARY)
llvm.load_library_permanently(LIBRARY)  # its sgemv: a decoded token's attention makes NumPy's matmul's calls
# numba's cache keys the kernels by their source, not by the symbol they call: only OpenBLAS's are cached
_CACHE = SYMBOL == gemm_library.OPENBLAS_SYMBOL
_e, _i, _f, _p = types.int32, types.int64, types.float32, types.voidptr
# (order, trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc): C (M, N) = alpha op(A) op(B) + beta C
_sgemm = types.ExternalFunction(SYMBOL, types.void(_e, _e, _e, _i, _i, _i, _f, _p, _i, _p, _i, _f, _p, _i))
# (order, trans, M, N, alpha, A, lda, x, incx, beta, y, incy): y = alpha op(A) x + beta y, A (M, N) in `order`
_sgemv = types.ExternalFunction(gemm_library.OPENBLAS_GEMV, types.void(_e, _e, _i, _i, _f, _p, _i, _p, _i, _f, _p, _i))
_F = 4  # bytes per float32


def _mm(ta, tb, dims, alpha, a, b, c):
    """c (M, N) <- alpha op(a) @ op(b) on the calling thread; a, b, c addresses of row-major float32 matrices,
    dims = (M, N, K, lda, ldb, ldc), the row strides in elements."""
    M, N, K, lda, ldb, ldc = dims
    _sgemm(ROW_MAJOR, TRANS if ta else NO_TRANS, TRANS if tb else NO_TRANS, M, N, K, alpha, a, lda, b, ldb, 0, c, ldc)


def _chunk(a, b, out, ta, tb, ck, chunks):
    """Rows [ck * per, (ck + 1) * per) of out (M, N) = op(a) @ op(b), per = ceil(M / chunks)."""
    M, N = out.shape
    K = a.shape[0] if ta else a.shape[1]
    lda, ldb = a.shape[1], b.shape[1]
    per = (M + chunks - 1) // chunks
    lo = ck * per
    hi = min(M, lo + per)
    if hi > lo:
        a0 = a.ctypes.data + (lo if ta else lo * lda) * _F  # rows lo.. of op(a)
        _mm(ta, tb, (hi - lo, N, K, lda, ldb, N), 1, a0, b.ctypes.data, out.ctypes.data + lo * N * _F)


def _gemm(a, b, out, ta, tb, chunks):
    """out (M, N) = op(a) @ op(b), op transposing when ta / tb; a, b, out C-contiguous; M split into `chunks`."""
    for ck in prange(chunks):
        _chunk(a, b, out, ta, tb, ck, chunks)


def _gemm_pair(p, q):
    """Two independent products, one per thread, each (a, b, out, ta, tb, chunks) in its chunks one after the
    other."""
    for t in prange(2):
        if t == 0:
            a, b, out, ta, tb, chunks = p
            for ck in range(chunks):
                _chunk(a, b, out, ta, tb, ck, chunks)
        else:
            a, b, out, ta, tb, chunks = q
            for ck in range(chunks):
                _chunk(a, b, out, ta, tb, ck, chunks)


def _softmax_rows(p):
    """Row t of the causal scores p (T, T) <- softmax over its first t + 1 entries (the keys query t sees), 0
    after. A NaN score makes its whole row NaN."""
    T = p.shape[0]
    for t in range(T):
        row = p[t]
        n = t + 1
        m = np.float32(-np.inf)
        z = np.float32(0)  # the plain sum: NaN iff a score is (max() skips NaN)
        for j in range(n):
            m = max(m, row[j])
            z += row[j]
        row[n:] = -np.inf
        total = np.float32(0)
        for j in range(T):  # whole rows: one vector loop
            e = exp_neg(row[j] - m)
            row[j] = e
            total += e
        r = np.float32(1) / total + z * np.float32(0)
        for j in range(T):
            row[j] *= r


def _attention_fwd(qkv, H, scale, keep, out, probs):
    """Causal attention of qkv (B,T,3C) into out (B,T,C), one (batch, head) per turn; probs (B,H,T,T) <- the
    probabilities, query-major; with dropout (keep: the (B,H,T,T) multiplier, else size 0) the values are weighted
    by probs * keep, made a head at a time (backward makes them again)."""
    B, T, C3 = qkv.shape
    C, d = C3 // 3, C3 // (3 * H)
    for bh in prange(B * H):
        b, h = bh // H, bh % H
        q = qkv.ctypes.data + (b * T * C3 + h * d) * _F  # (T, d), row stride C3; k and v follow at +C, +2C
        k, v = q + C * _F, q + 2 * C * _F
        p = probs[b, h]
        _mm(False, True, (T, T, d, C3, C3, T), scale, q, k, p.ctypes.data)  # scores (T, T) = q k^T scale
        _softmax_rows(p)
        pk = p
        if keep.size:
            pk = np.empty((T, T), np.float32)
            for t in range(T):
                for j in range(T):
                    pk[t, j] = p[t, j] * keep[b, h, t, j]
        _mm(False, False, (T, d, T, T, C3, C), 1, pk.ctypes.data, v, out.ctypes.data + (b * T * C + h * d) * _F)


def _attention_bwd(qkv, H, scale, keep, out, g, probs, gqkv):
    """gqkv (B,T,3C) <- the gradient of `_attention_fwd` for upstream g (B,T,C)."""
    B, T, C3 = qkv.shape
    C, d = C3 // 3, C3 // (3 * H)
    for bh in prange(B * H):
        b, h = bh // H, bh % H
        q = qkv.ctypes.data + (b * T * C3 + h * d) * _F
        k, v = q + C * _F, q + 2 * C * _F
        gq = gqkv.ctypes.data + (b * T * C3 + h * d) * _F
        gk, gv = gq + C * _F, gq + 2 * C * _F
        go = g.ctypes.data + (b * T * C + h * d) * _F
        p = probs[b, h]
        ds = np.empty((T, T), np.float32)
        _mm(False, True, (T, T, d, C, C3, T), 1, go, v, ds.ctypes.data)  # dP (T, T) = g v^T
        for t in range(T):  # ds = p * (dP [* keep] - rowsum(g * out)), the softmax backward
            D = np.float32(0)
            gt, ot = g[b, t, h * d : (h + 1) * d], out[b, t, h * d : (h + 1) * d]
            for i in range(d):
                D += gt[i] * ot[i]
            row, prow = ds[t], p[t]
            if keep.size:
                krow = keep[b, h, t]
                for j in range(T):
                    row[j] = prow[j] * (row[j] * krow[j] - D)
            else:
                for j in range(T):
                    row[j] = prow[j] * (row[j] - D)
        pk = p
        if keep.size:  # the forward's probs * keep, again
            pk = np.empty((T, T), np.float32)
            for t in range(T):
                for j in range(T):
                    pk[t, j] = p[t, j] * keep[b, h, t, j]
        _mm(True, False, (T, d, T, T, C, C3), 1, pk.ctypes.data, go, gv)  # gv = (p [* keep])^T g
        _mm(False, False, (T, d, T, T, C3, C3), scale, ds.ctypes.data, k, gq)  # gq = ds k scale
        _mm(True, False, (T, d, T, T, C3, C3), scale, ds.ctypes.data, q, gk)  # gk = ds^T q scale


def _decode_scores(qkv, H, scale, kc, vc, start, qs, p):
    """One new token per batch row: its keys and values into kc, vc (B, H, L, d) at `start`, its scaled queries
    into qs (B*H, d), and the scores over the S = start + 1 cached keys into p (B, H, S, 1), one sgemv per head:
    the call NumPy's matmul makes for attention_core's (S, d) @ (d, 1), so the same bits."""
    B, C3, L, S = qkv.shape[0], qkv.shape[2], kc.shape[2], start + 1
    C, d = C3 // 3, C3 // (3 * H)
    for bh in range(B * H):
        b, h = bh // H, bh % H
        for i in range(d):
            kc[b, h, start, i] = qkv[b, 0, C + h * d + i]
            vc[b, h, start, i] = qkv[b, 0, 2 * C + h * d + i]
            qs[bh, i] = qkv[b, 0, h * d + i] * scale
        k = kc.ctypes.data + bh * L * d * _F
        _sgemv(COL_MAJOR, TRANS, d, S, 1, k, d, qs.ctypes.data + bh * d * _F, 1, 0, p.ctypes.data + bh * S * _F, 1)


def _decode_values(p, vc, out):
    """out (B, 1, H*d) <- the probabilities p (B, H, S, 1) times the values vc[:, :, :S], one sgemv per head:
    NumPy's call for (1, S) @ (S, d)."""
    B, H, L, d = vc.shape
    S = p.shape[2]
    for bh in range(B * H):
        v = vc.ctypes.data + bh * L * d * _F
        y = out.ctypes.data + bh * d * _F  # (b, h) at b * H d + h d
        _sgemv(ROW_MAJOR, TRANS, S, d, 1, v, d, p.ctypes.data + bh * S * _F, 1, 0, y, 1)


_inline = njit(inline="always", fastmath=FASTMATH, error_model="numpy")
_mm, _softmax_rows, _chunk = _inline(_mm), _inline(_softmax_rows), _inline(_chunk)
_GEMM, _PAIR = twins(_gemm, cache=_CACHE), twins(_gemm_pair, cache=_CACHE)
_FWD, _BWD = twins(_attention_fwd, cache=_CACHE), twins(_attention_bwd, cache=_CACHE)
_NO_KEEP = np.empty((0, 0, 0, 0), np.float32)
_SCORES = njit(fastmath=FASTMATH, error_model="numpy", cache=True)(_decode_scores)
_VALUES = njit(fastmath=FASTMATH, error_model="numpy", cache=True)(_decode_values)


_held = False


def hold_openblas() -> None:
    """NumPy's OpenBLAS to one thread (its pool would spin against numba's), once; other BLAS libraries in the
    process (PyTorch's, in the benchmarks) keep their threads."""
    global _held
    if not _held:
        ThreadpoolController().select(filepath=LIBRARY).limit(limits=1)
        _held = True


def matmul(a, b, out, min_rows: int) -> bool:
    """out = a @ b in chunks of at least min_rows rows of out, over the pool, for 2-D float32 a, b that are
    C-contiguous or transposes of C-contiguous arrays; returns False (nothing done) for fewer than two chunks, or
    for shapes that do not chain (NumPy's matmul then names the mismatch).

    One thread makes the chunks that two would, one after the other: OpenBLAS's bits depend on a GEMM's row count
    (its small-matrix kernels; a 1024 x 32 x 27 product's last 512 rows differed from those of a 512-row call in
    4,076 of 13,824 entries, Haswell kernels), so one GEMM whole and the same GEMM in halves are different
    runs."""
    if (args := _gemm_args(a, b, out, min_rows)) is None or args[-1] < 2:
        return False
    hold_openblas()
    _GEMM[threads() > 1](*args)
    return True


def matmul_pair(a, b, out, a2, b2, out2, min_rows: int) -> bool:
    """out = a @ b and out2 = a2 @ b2 side by side, one product per thread, each in the row chunks `matmul` gives
    it (so the same bits); False (nothing done) where either would not split into chunks.

    Why: a Linear's two backward products (the input's and the weight's gradients) have equal FLOPs, so one per
    core keeps both busy, and each core packs its operands once instead of both packing the same weight."""
    if (p := _gemm_args(a, b, out, min_rows)) is None or (q := _gemm_args(a2, b2, out2, min_rows)) is None:
        return False
    if p[-1] < 2 or q[-1] < 2:
        return False
    hold_openblas()
    _PAIR[threads() > 1](p, q)
    return True


def _gemm_args(a, b, out, min_rows: int):
    """(a, b, out, ta, tb, chunks) for _gemm, a and b as their C-contiguous bases; None where they are not 2-D
    float32 products that chain, or not C-contiguous or transposes of C-contiguous arrays. The chunks follow the
    width, not the threads running now (share.py), so the bits do not change with them."""
    chunks = min(max(width(), 2), out.shape[0] // min_rows)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[0] or out.shape != (a.shape[0], b.shape[1]):
        return None
    ta, tb = not a.flags.c_contiguous, not b.flags.c_contiguous
    a, b = (a.T if ta else a), (b.T if tb else b)
    if not (a.flags.c_contiguous and b.flags.c_contiguous and out.flags.c_contiguous):
        return None
    return a, b, out, ta, tb, chunks


def attention_forward(qkv, n_head, scale, keep, out, probs) -> None:
    """out (B,T,C), probs (B,H,T,T) <- causal attention of qkv (B,T,3C); keep: dropout's (B,H,T,T) multiplier, or
    None."""
    threaded = threads() > 1
    if threaded:
        hold_openblas()  # a large head's GEMM must not start OpenBLAS's threads inside a thread of the pool
    _FWD[threaded](qkv, n_head, scale, _NO_KEEP if keep is None else keep, out, probs)


def attention_backward(qkv, n_head, scale, keep, out, g, probs, gqkv) -> None:
    _BWD[threads() > 1](qkv, n_head, scale, _NO_KEEP if keep is None else keep, out, g, probs, gqkv)


def decode_attention(qkv, n_head, scale, k_cache, v_cache, start, out) -> bool:
    """out (B, 1, C) <- attention of one new token per row of qkv (B, 1, 3C) over the caches' first `start` keys
    and its own, whose keys and values it writes at `start`: attention_core's arithmetic for one query (the same
    sgemv calls and softmax kernel), in three compiled calls instead of ~20 NumPy ones. False (nothing done) for
    arrays it does not take: a first key (S = 1, where NumPy's matmul takes other paths), non-float32 or strided
    ones."""
    B, H, L, d = qkv.shape[0], n_head, k_cache.shape[2], qkv.shape[2] // (3 * n_head)
    if qkv.shape[1] != 1 or not 1 <= start < L or k_cache.shape != (B, H, L, d) or v_cache.shape != k_cache.shape:
        return False
    for a in (qkv, k_cache, v_cache, out):  # a loop, not any(...): a generator costs ~1 us, a quarter of the call
        if a.dtype != np.float32 or not a.flags.c_contiguous:
            return False
    S = start + 1
    p = np.empty((B, H, S, 1), np.float32)
    qs = np.empty((B * H, d), np.float32)
    _SCORES(qkv, H, np.float32(scale), k_cache, v_cache, start, qs, p)  # a float32 scale: q * scale as NumPy's
    jit_softmax_cols(p, np.empty((B, H, 1, 1), np.float32))
    _VALUES(p, v_cache, out)
    return True
