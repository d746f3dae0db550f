"""The memory a run will need, estimated before it allocates, so that a batch of 10 million rows or a 100,000-token
context is refused in one line with its estimate (resources.check_fits) instead of swapping the machine to death.

Weights: from the config alone (`min_params`, a lower bound), before the model is built. Activations: measured,
not modelled, so every rung is covered without a formula of its own: forward + backward (training) and forward
(scoring) of one and two rows at growing lengths up to the run's (or as far as stays small), with tracemalloc
counting NumPy's buffers; a fixed part plus one row's cost times the batch size (see `fit`). The probes run in
eval mode (no dropout draw, no BatchNorm update) and leave no gradient behind, so a run's bits do not depend on
them.
"""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np

from ..autograd import no_grad
from ..fast import memory
from ..models.base import LanguageModel
from ..resources import check_fits, fmt_bytes
from .settings import SampleSettings, TrainSettings, seq_len_key

PROBE_BYTES = 256 << 20  # the most a probe may allocate: past it, the estimate extrapolates
CONTEXT_PROBE = 256  # the largest `context` (a config's window per position) probed as it is; longer: extrapolated
_TRAIN_STATE = 4  # float32 weights, gradients and AdamW's two moments


def check_weights(cls: type[LanguageModel], config) -> None:
    """Refuse a model whose weights (and their training state) cannot fit, before building it."""
    n = cls.min_params(config)
    per = 4 * (_TRAIN_STATE if cls.trainable else 1)
    check_fits(
        n * per,
        f"a {cls.rung} model of these sizes (at least {n:,.0f} parameters, {per} bytes each to train)",
        f"make it smaller ({_sizes(config)})",
    )


def _sizes(config) -> str:
    """ "context=8, n_embd=24, ...": the integer sizes of a model's config, the settings that drive its memory (an
    option set to 0 is off and drives nothing)."""
    return ", ".join(
        f"{f.name}={v}"
        for f in dataclasses.fields(config)
        if type(v := getattr(config, f.name)) is int and v and f.name not in ("vocab_size", "pad_id", "boundary_id")
    )


_peak = memory.traced_peak  # bytes at the peak of fn() from an empty pool
_LOADED: set[tuple[type, str]] = set()  # the model configs whose kernels this process has run untraced


def fit(peak, T: int) -> tuple[float, float]:
    """(fixed bytes, bytes per row) at length T, from `peak(B, t)` at B = 1, 2 and t = 1, 2, 4, ... up to T. Each
    next probe runs only if the last one, scaled to its length, stays within PROBE_BYTES (a model whose cost is its
    context, such as a WaveNet of context 65,536, is large from the first probe). Read off at T when the probes
    reach it; else, from three lengths or more, both parts are fitted on the last three as e + b * t + c * t**2
    (c: attention's T x T scores; e: what a row costs whatever its length, for a model that reads only its last
    window; the fixed part grows with t for a recurrent rung's per-step graph) and read at T, all three >= 0
    (`_at`); from fewer, both are scaled in proportion to T."""
    ts: list[int] = []
    fixed: list[float] = []
    rows: list[float] = []
    t = 1
    while True:
        # first calls at a shape make what is kept for later ones (cached constants, a kernel compiled or a thread
        # pool started for larger products), and a call may meet the allocator's leftovers: one-time memory, no
        # cost per row, so each shape runs twice and the smaller peak counts
        p1, p2 = peak(1, t), peak(2, t)
        one, two = min(p1, peak(1, t)), min(p2, peak(2, t))
        rows.append(max(two - one, 0))
        fixed.append(max(one - rows[-1], 0))
        ts.append(t)
        if t == T:
            return fixed[-1], rows[-1]
        t = min(T, 2 * t)
        if len(ts) >= 3:
            if _at(ts[-3:], fixed[-3:], t) + 2 * _at(ts[-3:], rows[-3:], t) > PROBE_BYTES:
                return _at(ts[-3:], fixed[-3:], T), _at(ts[-3:], rows[-3:], T)
        elif (fixed[-1] + 2 * rows[-1]) * t / ts[-1] > PROBE_BYTES:
            return fixed[-1] * T / ts[-1], rows[-1] * T / ts[-1]


def measure(model: LanguageModel, step, T: int) -> tuple[float, float]:
    """`fit` of step(model, B, t)'s peak, in eval mode. A model whose every position reads its own window of
    `context` tokens (a config with `context`) costs in proportion to it: past CONTEXT_PROBE it is not probed itself
    (one position of a WaveNet of context 2^20 takes GBs and minutes) but through two copies at CONTEXT_PROBE / 2
    and CONTEXT_PROBE tokens, extrapolated linearly to its context."""
    context = getattr(model.config, "context", None)
    if model.block_size is not None or context is None or context <= CONTEXT_PROBE:
        with model.evaluating():
            # untraced first, once per model config and process: numba loads the kernels at their first call, and
            # tracemalloc counting its compiler's objects made that 4x slower (a GPT's first probe 3.4 s, not 0.8 s)
            if (key := (type(model), repr(model.config))) not in _LOADED:
                step(model, 1, 1)
                _LOADED.add(key)
            return fit(lambda B, t: _peak(lambda: step(model, B, t)), T)
    dtype, small = next(iter(model.parameters())).data.dtype, (CONTEXT_PROBE // 2, CONTEXT_PROBE)
    copies = (  # drawn from their own generator: the run's streams are untouched
        type(model)(dataclasses.replace(model.config, context=c), rng=np.random.default_rng(0), dtype=dtype)
        for c in small
    )
    (f1, r1), (f2, r2) = (measure(m, step, T) for m in copies)
    k = (context - CONTEXT_PROBE) / (CONTEXT_PROBE // 2)
    return f2 + k * max(f2 - f1, 0), r2 + k * max(r2 - r1, 0)


def _at(ts: list[int], ys: list[float], T: int) -> float:
    """ys fitted as e + b * t + c * t**2 with e, b, c >= 0, read at T: least squares over each subset of the
    three terms, the closest fit whose coefficients are all >= 0 (a cost does not fall as a row grows). A probe
    that meets a one-time buffer (a kernel's workspace from some size on) bends the curve through the three
    points; dropping the negative coefficients of that curve read a 4.5 MB row as 2 GB."""
    scale = ts[-1]  # t / scale in [0, 1]: the columns stay comparable at any length
    X = np.vander(np.asarray(ts, dtype=np.float64) / scale, 3, increasing=True)  # (n, 3): 1, t, t^2
    y = np.asarray(ys, dtype=np.float64)
    best, coefs = float(y @ y), np.zeros(3)  # the empty subset: a cost of 0
    for terms in itertools.product((False, True), repeat=3):
        use = np.array(terms)
        if not use.any():
            continue
        c = np.linalg.lstsq(X[:, use], y, rcond=None)[0]
        err = float(np.sum((X[:, use] @ c - y) ** 2))
        if (c >= 0).all() and err < best:
            best, coefs = err, np.zeros(3)
            coefs[use] = c
    return float(np.polyval(coefs[::-1], T / scale))


def _train_step(model: LanguageModel, B: int, T: int, last: bool) -> None:
    x = np.zeros((B, T), dtype=np.int64)
    _, loss = model(x, np.zeros((B, 1 if last else T), dtype=np.int64), last_only=last)
    loss.backward()
    model.zero_grad()


def _forward(model: LanguageModel, B: int, T: int) -> None:
    with no_grad():
        model(np.zeros((B, T), dtype=np.int64))


def check_training(model: LanguageModel, train: TrainSettings, sample: SampleSettings, *, seq_len: int) -> None:
    """Refuse a training run whose step (train.batch_size rows of seq_len tokens), exact scoring (eval.batch_size
    rows of the model's window) or final samples (num_samples rows drawn at once, sample_tokens each) would not fit,
    before its first step rather than after its last; the message gives the estimate."""
    n = model.num_parameters()
    itemsize = max((p.data.itemsize for p in model.parameters()), default=4)
    # AdamW's moments (allocated at the first step), and a weight average with a copy of the trained weights
    moments = (2 + 2 * train.average.on) * n * itemsize
    last, eval_len, batch, eval_batch = train.targets == "last", model.window(), train.batch_size, train.eval.batch_size
    fixed, row = measure(model, lambda m, B, t: _train_step(m, B, t, last), seq_len)
    e_fixed, e_row = measure(model, _forward, eval_len)
    rows, sizes = f"{fmt_bytes(row)} per row", _sizes(model.config)
    check_fits(
        moments + fixed + batch * row,
        f"a training step of batch_size={batch} rows x {seq_len} tokens ({rows})",
        f"lower batch_size= (grad_accum= keeps the effective batch), or {seq_len_key(model)}= or the model's sizes "
        f"({sizes})",
    )
    check_fits(  # eval.batch_size null: scoring takes as many rows as fit (score_rows), one at least
        e_fixed + (eval_batch or 1) * e_row,
        f"scoring with eval.batch_size={eval_batch or 1} windows x {eval_len} tokens ({fmt_bytes(e_row)} per window)",
        f"lower eval.batch_size=, or the model's sizes ({sizes})"
        if e_fixed + e_row > PROBE_BYTES
        else "lower eval.batch_size=",
    )
    n_samples, tokens = sample.num_samples, sample.sample_tokens
    check_fits(
        e_fixed + n_samples * (e_row + 16 * tokens),  # a forward of every row, and the ids drawn (int64 x2)
        f"drawing num_samples={n_samples} samples of sample_tokens={tokens} at once",
        "lower num_samples= or sample_tokens=",
    )


def scoring_bytes(model: LanguageModel, T: int, rows: int) -> float:
    """Memory to score `rows` rows of T tokens at once (a forward without a graph), measured as the training probes
    are (`lmladder evaluate`, `lmladder diff`)."""
    fixed, row = measure(model, _forward, T)
    return fixed + rows * row


def check_beam(model: LanguageModel, beam: int, prompt_len: int, max_new_tokens: int) -> None:
    """Refuse a beam search whose `beam` live rows cannot fit: each row's forward (measured as the training probes
    are), its V log-probabilities and candidates (float64 and int64 copies) and its tokens so far."""
    T = prompt_len + max_new_tokens if model.block_size is None else min(prompt_len + max_new_tokens, model.block_size)
    fixed, row = measure(model, _forward, max(T, 1))
    per = row + 5 * 8 * model.vocab_size + 2 * 8 * (T + max_new_tokens)
    check_fits(fixed + beam * per, f"beam search with --beam {beam} ({fmt_bytes(per)} per beam)", "lower --beam")
