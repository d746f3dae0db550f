"""Exact held-out scores: mean NLL over EVERY predicted token of a split, perplexity and bits per character.

Estimator: the targets are tokens[1:] of the split, each scored exactly once (`data.batching.eval_batches`).
Lines corpora are scored one document at a time (a name sees only its own prefix, as in makemore); stream
corpora are scored with half-overlapping windows of the model's length (`LanguageModel.window`), so every scored
token after the first window has at least half a window of context. Mean NLL = total NLL / scored tokens (nats);
perplexity = exp(mean NLL); bits per character (per UTF-8 byte) = total NLL / ln 2 / characters (bytes) of the
text the predicted tokens stand for, the same denominator for every tokenizer of one text, so models with
different tokenizers rank on one scale.
"""

from __future__ import annotations

import math

import numpy as np

from ..autograd import functional as F
from ..autograd import no_grad
from ..data.batching import IGNORE_INDEX, eval_batches, eval_plan
from ..data.prepared import Prepared, text_sizes
from ..fast import memory
from ..models.base import LOG_ZERO, LanguageModel
from ..progress import progress_bar
from ..resources import available_bytes
from .units import SplitUnits, split_units

PROGRESS_FROM = 200_000  # tokens past which scoring may show a progress bar (a few seconds of work)
# exp of more overflows a float: a model that gives some target probability ~0 (an unsmoothed n-gram) has an
# infinite perplexity, said as inf rather than a crash
_MAX_EXP = math.log(np.finfo(np.float64).max)
# Rows per forward when none is asked for (score_rows): each op of the forward on about OP_ROWS rows, within
# SCORE_BYTES. A GPT's ops see rows x T of them: its speed is the same from 8 to 128 windows of 64 and a third lower
# at 512 (its activations spill out of the caches); a recurrent model's each step sees the rows alone, and the
# wider the faster (the GRU of shakespeare_30min: 1.8x from 32 to 512 rows): it takes what memory allows.
OP_ROWS = 1 << 12
SCORE_BYTES = 1 << 30  # the most one forward may hold, whatever the machine has: the rows, so the bits, stay put


def score_rows(model: LanguageModel, T: int) -> int:
    """Rows of T tokens per forward for exact scoring: OP_ROWS rows per op (OP_ROWS // T windows; OP_ROWS for a model
    whose steps run in turn), as many as fit in SCORE_BYTES and in half the memory still available, as a power of two
    (a few bytes more or less measured move no row, so no bit), at least 1."""
    fixed, per_row = footprint(model, T)
    room = min(SCORE_BYTES, available_bytes() / 2) - fixed
    rows = int(max(1, min(OP_ROWS // (1 if model.steps_in_turn else T), room // per_row)))
    return 1 << (rows.bit_length() - 1)


_footprints: dict[tuple, tuple[int, int]] = {}


def footprint(model: LanguageModel, T: int) -> tuple[int, int]:
    """(fixed bytes, bytes per row) of a no_grad forward of rows of T tokens, measured, not modelled: forwards of two
    rows, then of one, after an untraced one (the first call at a shape compiles kernels and builds what later calls
    reuse). Kept per model config, T and dtype (a recurrent model's forward of one row is hundreds of small calls)."""
    key = (type(model).__qualname__, repr(model.config), T, *(p.data.dtype.str for p in model.parameters()[:1]))
    if key not in _footprints:
        x = np.zeros((2, T), dtype=np.int64)
        with model.evaluating(), no_grad():
            model(x)
            two, one = (memory.traced_peak(lambda n=n: model(x[:n])) for n in (2, 1))
        per_row = max(two - one, 1)
        _footprints[key] = (max(one - per_row, 0), per_row)
    return _footprints[key]


IMPOSSIBLE_FIX = "use a smoothed model (k > 0) or an earlier checkpoint"


def impossible_tokens(total_nll: float) -> int:
    """How many targets a summed NLL (nats) holds impossible: each adds -LOG_ZERO (1e30) to it, so the NLL is
    infinite, not 1e26 (what `lmladder evaluate` and `lmladder diff` refuse)."""
    return round(total_nll / -LOG_ZERO) if total_nll >= -LOG_ZERO / 2 else 0


def score_tokens(
    model: LanguageModel,
    tokens: np.ndarray,
    *,
    boundary_id: int | None,
    sizes: tuple[int, int] | None = None,
    batch_size: int | None = None,
    seq_len: int | None = None,
    progress: bool = False,
    token_nll: np.ndarray | None = None,
) -> dict:
    """Score `tokens` (one split) with `model`; returns nll, ppl, bpc, bpb, tokens, chars and bytes.
    `boundary_id`: a lines corpus's document boundary (each document is scored alone), None for a stream.
    `sizes`: (chars, bytes) of the text the predicted tokens stand for, by default one of each per predicted token
    (right for characters and bytes respectively). Rows are `model.window(seq_len)` tokens long, `batch_size` of
    them per forward (None: `score_rows`), under no_grad: the model's one forward, with no graph.
    A target the model gives probability 0 (`LOG_ZERO`: add-k with k=0) makes the scores infinite; their number
    is returned as `impossible_tokens`. `progress`: a bar over the scored tokens on stderr. `token_nll` ((N-1,)
    float64), if given, receives the NLL of every target tokens[1:] (what inference/units.py sums per unit)."""
    kind, T = "stream" if boundary_id is None else "lines", model.window(seq_len)
    total, count = 0.0, 0
    tokens = np.asarray(tokens)
    plan = eval_plan(tokens, kind=kind, boundary_id=boundary_id, seq_len=T)
    rows = batch_size or score_rows(model, T)
    batches = eval_batches(tokens, kind=kind, boundary_id=boundary_id, seq_len=T, batch_size=rows)
    with model.evaluating(), no_grad(), progress_bar(max(len(tokens) - 1, 0), enabled=progress, unit="tok") as bar:
        for i, (x, y) in enumerate(batches):
            logits, _ = model(x)
            # one NLL per target (0 where ignored), summed in float64: the total and token_nll come from one pass
            per = F.cross_entropy(logits, y, ignore_index=IGNORE_INDEX, reduction="none").data  # (B, W)
            total += float(per.sum(dtype=np.float64))
            keep = y != IGNORE_INDEX
            n = int(np.count_nonzero(keep))
            count += n
            bar.update(n)
            if token_nll is not None:
                start = plan[0][i * rows : (i + 1) * rows]  # (B,) row starts
                pos = start[:, None] + np.arange(y.shape[1])  # (B, W): column c predicts tokens[s+1+c], index s+c
                token_nll[pos[keep]] = per[keep]
    if count == 0:
        raise ValueError(f"score_tokens: the split has {len(tokens)} tokens, nothing to predict; it needs at least 2")
    n_chars, n_bytes = sizes or (count, count)
    nll, bits = total / count, total / math.log(2)
    impossible = impossible_tokens(total)
    if impossible:
        nll = bits = math.inf
    return {
        "nll": nll,
        "ppl": math.exp(nll) if nll < _MAX_EXP else math.inf,
        "bpc": bits / n_chars,
        "bpb": bits / n_bytes,
        "tokens": count,
        "chars": n_chars,
        "bytes": n_bytes,
        **({"impossible_tokens": impossible} if impossible else {}),
    }


def score_splits(
    model: LanguageModel, data: Prepared, batch_size: int | None = None, *, progress: bool = False
) -> dict:
    """Exact val (and test, when the split has one) scores of `score_tokens`; `progress`: a bar for each split
    longer than PROGRESS_FROM tokens."""
    return score_splits_units(model, data, batch_size, units=False, progress=progress)[0]


def score_splits_units(
    model: LanguageModel, data: Prepared, batch_size: int | None = None, *, units: bool = True, progress: bool = False
) -> tuple[dict[str, dict], dict[str, SplitUnits]]:
    """`score_splits`, and with `units` each split's per-unit sums (inference/units.py) from the same pass."""
    scores, per_unit = {}, {}
    batch_size = batch_size or score_rows(model, model.window())  # one measurement for both splits
    for split in ("val", "test"):
        if split in data.splits:
            toks = data.splits[split]
            sizes = data.stats.get("splits", {}).get(split, {})
            if "predicted_bytes" in sizes:
                n_chars, n_bytes = sizes["predicted_chars"], sizes["predicted_bytes"]
            else:  # prepared before the sizes were recorded: the text the tokens decode to (exact for char/byte)
                n_chars, n_bytes = text_sizes(data.tokenizer, data.tokenizer.decode(np.asarray(toks)), toks)
            token_nll = np.full(len(toks) - 1, np.nan) if units else None
            scores[split] = score_tokens(
                model,
                toks,
                boundary_id=data.boundary_id,
                sizes=(n_chars, n_bytes),
                batch_size=batch_size,
                token_nll=token_nll,
                progress=progress and len(toks) > PROGRESS_FROM,
            )
            if units:
                per_unit[split] = split_units(
                    data.tokenizer, toks, token_nll, kind=data.kind, boundary_id=data.boundary_id
                )
    return scores, per_unit
