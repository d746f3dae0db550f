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
from ..models.base import LOG_ZERO, LanguageModel
from ..progress import progress_bar
from .units import SplitUnits, split_units

PROGRESS_FROM = 200_000  # tokens past which scoring may show a progress bar (a few seconds of work)
# exp of more overflows a float: a model that gives some target probability ~0 (an unsmoothed n-gram) has an
# infinite perplexity, said as inf rather than a crash
_MAX_EXP = math.log(np.finfo(np.float64).max)


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
    batch_size: int = 32,
    seq_len: int | None = None,
    progress: bool = False,
    token_nll: np.ndarray | None = None,
) -> dict:
    """Score `tokens` (one split) with `model`; returns nll, ppl, bpc, bpb, tokens, chars and bytes.
    `boundary_id`: a lines corpus's document boundary (each document is scored alone), None for a stream.
    `sizes`: (chars, bytes) of the text the predicted tokens stand for, by default one of each per predicted token
    (right for characters and bytes respectively). Rows are `model.window(seq_len)` tokens long.
    A target the model gives probability 0 (`LOG_ZERO`: add-k with k=0) makes the scores infinite; their number
    is returned as `impossible_tokens`. `progress`: a bar over the scored tokens on stderr. `token_nll` ((N-1,)
    float64), if given, receives the NLL of every target tokens[1:] (what inference/units.py sums per unit)."""
    kind, T = "stream" if boundary_id is None else "lines", model.window(seq_len)
    total, count = 0.0, 0
    tokens = np.asarray(tokens)
    plan = eval_plan(tokens, kind=kind, boundary_id=boundary_id, seq_len=T)
    batches = eval_batches(tokens, kind=kind, boundary_id=boundary_id, seq_len=T, batch_size=batch_size)
    with model.evaluating(), no_grad(), progress_bar(max(len(tokens) - 1, 0), enabled=progress, unit="tok") as bar:
        for i, (x, y) in enumerate(batches):
            logits, _ = model(x)
            total += float(F.cross_entropy(logits, y, ignore_index=IGNORE_INDEX, reduction="sum").data)
            n = int((y != IGNORE_INDEX).sum())
            count += n
            bar.update(n)
            if token_nll is not None:  # a second, per-token pass: the sum above stays bit-identical
                per = F.cross_entropy(logits, y, ignore_index=IGNORE_INDEX, reduction="none").data  # (B, W)
                start = plan[0][i * batch_size : (i + 1) * batch_size]  # (B,) row starts
                pos = start[:, None] + np.arange(y.shape[1])  # (B, W): column c predicts tokens[s+1+c], index s+c
                keep = y != IGNORE_INDEX
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


def score_splits(model: LanguageModel, data: Prepared, batch_size: int = 32, *, progress: bool = False) -> dict:
    """Exact val (and test, when the split has one) scores of `score_tokens`; `progress`: a bar for each split
    longer than PROGRESS_FROM tokens."""
    return score_splits_units(model, data, batch_size, units=False, progress=progress)[0]


def score_splits_units(
    model: LanguageModel, data: Prepared, batch_size: int = 32, *, units: bool = True, progress: bool = False
) -> tuple[dict[str, dict], dict[str, SplitUnits]]:
    """`score_splits`, and with `units` each split's per-unit sums (inference/units.py) from the same pass."""
    scores, per_unit = {}, {}
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
