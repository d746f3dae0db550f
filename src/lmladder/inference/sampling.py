"""Autoregressive sampling for every rung: greedy, temperature, top-k and top-p (nucleus), seeded.

Models with `new_cache` (the GPT's KV cache, the RNN's hidden state) speak the decoding extension of the model
contract: `forward(idx, cache=..., last_only=True)`. The prompt is encoded once, then each step feeds one token.
A GPT's cache is rebuilt from the last 3/4 block_size tokens when it reaches block_size (positions are absolute),
so long generations keep at least that much context; uncached decoding slides the window by one. A cached model
without a block_size never rebuilds its cache: its state carries the whole prefix. Sampling needs only the last
position's logits, so such models are asked for those alone (`last_only`), cached or not; other rungs return every
position and the sampler takes the last.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np

from ..autograd import no_grad
from ..data.prepared import Prepared
from ..errors import LmladderError
from ..models.base import LanguageModel
from ..resources import check_fits

EOT = "<|endoftext|>"


class SamplingError(LmladderError, ValueError):
    """Bad sampling options; the message names the option and its valid range."""


def start_token(tok) -> int:
    """The id a sample with no prompt starts from: a lines corpus's boundary (a document begins after it), else a
    newline where the vocabulary has one, else id 0."""
    if tok.boundary_id is not None:
        return tok.boundary_id
    try:
        ids = tok.encode("\n")
    except ValueError:  # a character vocabulary without a newline
        return 0
    return int(ids[0]) if len(ids) else 0


def stop_token(tok) -> int | None:
    """The id that ends a sample: a lines corpus's boundary, else the tokenizer's <|endoftext|> special (BPE)."""
    if tok.boundary_id is not None:
        return tok.boundary_id
    return getattr(tok, "special_ids", {}).get(EOT)


def stop_at(pieces: Iterable[str], stop: str) -> Iterator[str]:
    """`pieces` of text as they come, until their text contains `stop`: the last piece is cut right after it, so
    the text ends with `stop` (a match may span pieces; only the last len(stop) - 1 characters are kept to find it)."""
    if not stop:
        raise SamplingError("stop='' is empty; give the text that ends a sample")
    tail = ""
    for piece in pieces:
        window = tail + piece
        if (i := window.find(stop)) >= 0:
            yield piece[: i + len(stop) - len(tail)]
            return
        yield piece
        tail = window[max(0, len(window) - len(stop) + 1) :]


def check_options(max_new_tokens: int, temperature: float, top_k: int | None, top_p: float | None) -> None:
    if not isinstance(max_new_tokens, (int, np.integer)) or max_new_tokens < 0:
        raise SamplingError(f"max_new_tokens={max_new_tokens!r} must be an integer >= 0")
    if not temperature >= 0:
        raise SamplingError(f"temperature={temperature} must be >= 0 (0 means greedy)")
    if top_k is not None and (not isinstance(top_k, (int, np.integer)) or top_k < 1):
        raise SamplingError(f"top_k={top_k!r} must be an integer >= 1 (or unset)")
    if top_p is not None and not 0 < top_p <= 1:
        raise SamplingError(f"top_p={top_p} must be in (0, 1] (or unset)")


def next_token(
    logits: np.ndarray,
    rng: np.random.Generator,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
) -> np.ndarray:
    """Draw one id per row of `logits` (B, V)."""
    logits = logits.astype(np.float64)
    if temperature == 0:
        return logits.argmax(axis=-1)
    if temperature != 1:  # x / 1 is x: skip the pass
        logits = logits / temperature
    if top_k is not None and top_k < logits.shape[-1]:
        kth = np.partition(logits, -top_k, axis=-1)[:, -top_k, None]
        logits = np.where(logits < kth, -np.inf, logits)
    probs = np.exp(logits - logits.max(axis=-1, keepdims=True))
    probs /= probs.sum(axis=-1, keepdims=True)
    if top_p is not None and top_p < 1:
        order = np.argsort(-probs, axis=-1, kind="stable")
        sorted_p = np.take_along_axis(probs, order, axis=-1)
        # keep the smallest prefix whose mass reaches top_p (always at least the top token)
        drop_sorted = np.cumsum(sorted_p, axis=-1) - sorted_p >= top_p
        drop = np.zeros_like(drop_sorted)
        np.put_along_axis(drop, order, drop_sorted, axis=-1)
        probs = np.where(drop, 0.0, probs)
        probs /= probs.sum(axis=-1, keepdims=True)
    u = rng.random(probs.shape[0])[:, None]
    return np.minimum((np.cumsum(probs, axis=-1) < u).sum(axis=-1), probs.shape[-1] - 1)


def stream(
    model: LanguageModel,
    prompt: np.ndarray,
    max_new_tokens: int,
    *,
    rng: np.random.Generator,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    use_cache: bool = True,
) -> Iterator[np.ndarray]:
    """Continue each row of `prompt` (B, T0), yielding the B new ids of each step as soon as they are drawn, up to
    `max_new_tokens`; a consumer that has what it wants (every row has drawn its end token) just stops asking. Memory
    stays bounded however long it runs: only the last block_size tokens are kept (all of them only for a model with
    no block size and no cache)."""
    check_options(max_new_tokens, temperature, top_k, top_p)
    prompt = np.atleast_2d(np.asarray(prompt, dtype=np.int64))
    B = prompt.shape[0]
    bs = model.block_size
    seq = prompt if bs is None else prompt[:, -bs:]  # prompts longer than the context are cropped on the left
    cached = use_cache and hasattr(model, "new_cache")  # the decoding extension: cache=
    with model.evaluating():
        cache = None
        for _ in range(max_new_tokens):
            # no_grad around the forward alone: a generator suspended at `yield` (a consumer that stops early)
            # must not leave gradients off for the rest of the process
            with no_grad():
                if cached:
                    if cache is None or (bs is not None and cache.length >= bs):
                        # at least the last token: with block_size 1, bs - bs // 4 is 0 and seq[:, -0:] is all of it
                        keep = seq[:, -max(1, bs - max(1, bs // 4)) :] if cache is not None else seq
                        cache = model.new_cache(B)
                        logits = model(keep, cache=cache, last_only=True)[0].data[:, -1]
                    else:
                        logits = model(seq[:, -1:], cache=cache, last_only=True)[0].data[:, -1]
                else:
                    logits = model(seq, last_only=True)[0].data[:, -1]
            tok = next_token(logits, rng, temperature, top_k, top_p)
            seq = np.concatenate([seq, tok[:, None]], axis=1)
            if bs is not None:  # the window the next step can see
                seq = seq[:, -bs:]
            elif cached:  # the state carries the prefix: the next step feeds the last token alone
                seq = seq[:, -1:]
            yield tok


def generate(
    model: LanguageModel, prompt: np.ndarray, max_new_tokens: int, *, stop_id: int | None = None, **options
) -> list[np.ndarray]:
    """`stream` collected: B arrays of new ids, each cut after its first `stop_id`, drawn until every row has drawn
    it (options as `stream`'s)."""
    B = np.atleast_2d(np.asarray(prompt)).shape[0]
    check_fits(
        16 * B * max_new_tokens,  # the steps' arrays and their stacked copy, int64
        f"collecting max_new_tokens={max_new_tokens} tokens for each of {B} samples",
        "lower max_new_tokens= (lmladder sample streams its output and needs no such buffer)",
    )
    steps, done = [], np.zeros(B, dtype=bool)
    for tok in stream(model, prompt, max_new_tokens, **options):
        steps.append(tok)
        if stop_id is not None:
            done |= tok == stop_id
            if done.all():
                break
    out = np.stack(steps, axis=1) if steps else np.zeros((B, 0), dtype=np.int64)
    rows = []
    for r in out:
        if stop_id is not None and (hits := np.flatnonzero(r == stop_id)).size:
            r = r[: hits[0] + 1]
        rows.append(r)
    return rows


def sample_text(
    model: LanguageModel,
    data: Prepared,
    rng: np.random.Generator,
    *,
    num_samples: int,
    sample_tokens: int,
    temperature: float = 1.0,
) -> list[str]:
    """`num_samples` texts of up to `sample_tokens` tokens each. Lines corpora: whole documents (names) from the
    boundary token; stream: from a newline, up to an end-of-text token where the tokenizer has one."""
    tok = data.tokenizer
    if num_samples == 0:  # sample.num_samples=0: a run without samples (an empty batch would not reshape)
        return []
    if data.kind == "lines":
        prompt = np.full((num_samples, 1), data.boundary_id)
        rows = generate(model, prompt, sample_tokens, rng=rng, temperature=temperature, stop_id=data.boundary_id)
        return [tok.decode(r[r != data.boundary_id]) for r in rows]
    prompt = np.full((num_samples, 1), start_token(tok))
    stop = stop_token(tok)  # BPE's <|endoftext|> ends a sample here too, as in `lmladder sample` (not shown)
    rows = generate(model, prompt, sample_tokens, rng=rng, temperature=temperature, stop_id=stop)
    return [tok.decode(r if stop is None else r[r != stop]) for r in rows]
