"""Beam search for every rung: the continuation with the highest mean log-probability per new token, deterministic.

Each step extends every live beam by every token and keeps the best candidates by summed log-probability (live
beams all have one length, so sum and mean rank alike), as many as there are live beams; those that end in
`stop_id` are finished and give up their place, so the beam narrows from `beam` as beams finish. The search ends
when none is live or after `max_new_tokens`; the answer is the finished or live beam with the best
length-normalised score: sum log p / number of new tokens (the stop token counted), i.e. GNMT's length penalty
with alpha = 1 and no +5 offset (a plain sum would favour stopping early). Ties go to the higher-ranked beam, so
beam 1 is greedy decoding (temperature 0) token for token.

No cache: each step re-runs every beam's window (its last block_size tokens, or the whole sequence for a model
without a block_size), so a prompt longer than the context is cropped on the left, as the sampler does. That costs
beam x window per token: cheap at the lengths beam search is for (names, a line or two).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..autograd import no_grad
from ..models.base import LanguageModel
from .sampling import SamplingError


@dataclass(frozen=True)
class Beam:
    ids: np.ndarray  # the new tokens, stop_id included when drawn
    logprob: float  # their summed log-probability (nats)

    @property
    def score(self) -> float:
        """The length-normalised score beam search maximises: mean log-probability per new token."""
        return self.logprob / len(self.ids) if len(self.ids) else 0.0


def beam_search(
    model: LanguageModel, prompt: np.ndarray, max_new_tokens: int, beam: int, *, stop_id: int | None = None
) -> Beam:
    """The best of `beam` beams continuing the 1-D `prompt` (see the module docstring)."""
    if not isinstance(beam, (int, np.integer)) or beam < 1:
        raise SamplingError(f"beam={beam!r} must be an integer >= 1 (1 = greedy)")
    if not isinstance(max_new_tokens, (int, np.integer)) or max_new_tokens < 0:
        raise SamplingError(f"max_new_tokens={max_new_tokens!r} must be an integer >= 0")
    prompt = np.asarray(prompt, dtype=np.int64).reshape(1, -1)
    bs = model.block_size
    seq = prompt if bs is None else prompt[:, -bs:]  # (L, T) what each live beam's next step sees
    new = np.zeros((1, 0), dtype=np.int64)  # (L, t) each live beam's new tokens
    sums = np.zeros(1)  # (L,) their summed log-probabilities
    finished: list[Beam] = []
    width = beam  # live beams to keep
    with model.evaluating(), no_grad():
        for _ in range(max_new_tokens):
            logits = model(seq, last_only=True)[0].data[:, -1].astype(np.float64)  # (L, V)
            logp = logits - logits.max(axis=-1, keepdims=True)
            logp -= np.log(np.exp(logp).sum(axis=-1, keepdims=True))
            V = logp.shape[-1]
            cand = (sums[:, None] + logp).ravel()  # (L * V,) row-major: beam-major, then token
            top = np.argsort(-cand, kind="stable")[:width]  # stable: ties to the earlier beam, the lower id
            rows, toks = top // V, top % V
            stops = toks == stop_id if stop_id is not None else np.zeros(top.size, dtype=bool)
            for k in np.flatnonzero(stops):
                finished.append(Beam(np.append(new[rows[k]], toks[k]), float(cand[top[k]])))
            keep = np.flatnonzero(~stops)
            width -= int(stops.sum())  # a finished beam gives up its place
            if width == 0 or keep.size == 0:
                break
            r, t = rows[keep], toks[keep]
            new = np.concatenate([new[r], t[:, None]], axis=1)
            seq = np.concatenate([seq[r], t[:, None]], axis=1)
            if bs is not None:
                seq = seq[:, -bs:]
            sums = cand[top[keep]]
        else:  # max_new_tokens reached: the live beams compete too
            finished += [Beam(n, float(s)) for n, s in zip(new, sums, strict=True)]
    return max(finished, key=lambda b: b.score) if finished else Beam(np.zeros(0, dtype=np.int64), 0.0)
