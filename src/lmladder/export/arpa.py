"""The count rung (models/bigram.py, add_k and kneser_ney, any order) as an ARPA back-off file (SRILM, KenLM).

The file reproduces lmladder's probability of every token in context, under the standard back-off rule
p(w | h) = p*(h w) if `h w` is listed, else bow(h) p(w | h minus its oldest word) (bow 1 where h is not listed):

- every entry `h w` carries lmladder's probability of w after h (for h shorter than order-1 words: the lower order
  that the longer contexts back off to), and every context lmladder tells apart from its back-off carries the bow
  that scales the rest, (its mass on the unlisted words) / (their mass one order lower). Kneser-Ney lists the
  n-grams of every order that its continuation counts hold, and its bows are the interpolation weights; add_k,
  whose unseen targets share k / (count(c) + k V) evenly, is uniform below the top order (what lmladder gives a
  context never seen) and lists the seen targets of each seen top context.
- start of a document: lmladder left-pads a context with pad_id (and, in a lines corpus, hides everything before
  the last boundary behind it), so the first tokens are predicted from pad^a w1..wb. That is ARPA's `<s> w1..wb`:
  score a document as KenLM does, `<s>` first, contexts of at most order-1 words.
- lines corpus (names): the boundary B both ends a document and pads the next one's context; as a target it is
  `</s>`, in a context `<s>`, and it never appears as a word. A split [B, w1.., B, w2.., B] is its lines scored
  each as `<s> w.. </s>`.
- stream corpus: the whole split is one document whose start is `<s>` (pad_id 0 is also a real token, so literal
  runs of it keep their own n-grams); nothing ends it, so `</s>` is listed with probability 0 (score with eos off).
- tokens are words (arpa_words): the unknown token is `<unk>`; whitespace, backslashes and unprintable characters
  are escaped as \\uXXXX, bytes that are not UTF-8 as \\xHH. log10 of probability 0 (add_k with k=0) is -99.

The file lists, per context, only what the back-off rule cannot give, yet computing it asks lmladder for dense rows
of V probabilities: time grows with (contexts x V); those rows are made CHUNK probabilities at a time, so memory
grows with the n-grams listed only (NGRAM_BYTES each, estimated before any work and refused in one line when it
cannot fit, LMLADDER_MEMORY_LIMIT included).
"""

from __future__ import annotations

import math
import os
from collections import defaultdict

import numpy as np

from ..io.atomic import atomic_writer
from ..models.bigram import NGram
from ..models.bigram_counts import continuation_levels
from ..resources import check_fits
from .errors import ExportError

BOS, EOS = -1, -2  # the symbols <s> and </s> beside the token ids
LOG_ZERO = -99.0  # ARPA's log10 of probability 0
CHUNK = 1 << 22  # probabilities computed at once: (rows x V) float64s, 32 MiB
# peak memory per listed n-gram while the file is assembled (dicts of tuples, sets, the sort): 580-1070 bytes
# measured by tracemalloc for Kneser-Ney orders 3, 6 and 10 of 200K characters of Tiny Shakespeare
NGRAM_BYTES = 1200


class ArpaError(ExportError):
    """A model (or its vocabulary) that an ARPA file cannot express; the message says why."""


def _escape(text: str) -> str:
    out = []
    for ch in text:
        if 0xDC80 <= ord(ch) <= 0xDCFF:  # a byte that is not UTF-8 (surrogateescape)
            out.append(f"\\x{ord(ch) - 0xDC00:02x}")
        elif ch == "\\" or ch.isspace() or not ch.isprintable():  # ARPA splits words on whitespace
            out.append(f"\\u{ord(ch):04x}" if ord(ch) < 0x10000 else f"\\U{ord(ch):08x}")
        else:
            out.append(ch)
    return "".join(out)


def arpa_words(tokenizer) -> list[str]:
    """The ARPA word of every token id: its text, escaped; `<unk>` for the unknown token; the boundary of a lines
    corpus (written as <s> and </s>, never as a word) is named `</s>`."""
    words = []
    for i in range(tokenizer.vocab_size):
        if i == tokenizer.boundary_id:
            words.append("</s>")
            continue
        if i == getattr(tokenizer, "unk_id", None):
            words.append("<unk>")
            continue
        raw = tokenizer.token_bytes(i) if hasattr(tokenizer, "token_bytes") else tokenizer.decode([i]).encode()
        word = _escape(raw.decode("utf-8", "surrogateescape"))
        words.append("\\u003c" + word[1:] if word in ("<s>", "</s>", "<unk>") else word)
    return words


def _check(model: NGram, words: list[str]) -> None:
    if len(words) != model.vocab_size:
        raise ArpaError(f"write_arpa: {len(words)} words for vocab_size={model.vocab_size}; pass arpa_words(tok)")
    if model.boundary_id is not None and model.pad_id != model.boundary_id:
        raise ArpaError(
            f"write_arpa: pad_id={model.pad_id} differs from boundary_id={model.boundary_id}, so a document start "
            "is two different contexts, and ARPA has one <s>; fit with pad_id=boundary_id (what lmladder's data sets)"
        )
    seen: dict[str, int] = {}
    for i, w in enumerate(words):
        if i != model.boundary_id and (not w or any(c.isspace() for c in w) or w in ("<s>", "</s>")):
            raise ArpaError(f"write_arpa: token {i}'s word {w!r} is empty, has whitespace or is <s>/</s>")
        if w in seen:
            raise ArpaError(f"write_arpa: tokens {seen[w]} and {i} are both the word {w!r}; ARPA needs distinct words")
        seen[w] = i


def _contexts(model: NGram) -> dict[tuple[int, ...], set[int]]:
    """{ARPA context: the targets listed after it} for every context lmladder tells apart from its back-off. `<s> w`
    (pad^a w) lists what any seen pad^i w, i >= 1, lists: below those, lmladder interpolates with w alone."""
    V, n, pad, lines = model.vocab_size, model.order, model.pad_id, model.boundary_id is not None
    if model.smoothing == "kneser_ney":  # n-gram level m's keys: (context id at context level m-1) * V + target
        keys = [k for k, _ in continuation_levels(model.levels, model.keys, model.counts, V)]
    else:  # add_k: only the top order's seen targets differ from the uniform rest
        keys = [np.zeros(0, dtype=np.int64)] * (n - 1) + [model.keys]
    out: dict[tuple[int, ...], set[int]] = defaultdict(set)
    out[()] = set(range(V))  # every word is a unigram
    ctx = np.zeros((1, 0), dtype=np.int64)  # the context of each id at the current level, oldest token first
    for j in range(n):
        if j:
            level = model.levels[j - 1]
            ctx = np.column_stack([level % V, ctx[level // V]])  # a context is its oldest token + its parent
        if not len(keys[j]):
            continue
        grouped = np.split(keys[j] % V, np.flatnonzero(np.diff(keys[j] // V)) + 1)
        for c, targets in zip(np.unique(keys[j] // V), grouped, strict=True):
            c, targets = tuple(ctx[c].tolist()), targets.tolist()
            run = next((i for i, t in enumerate(c) if t != pad), j)  # leading pads: maybe a document start
            if j and not (lines and run):  # a lines context with B in it is only ever a document start
                out[c].update(targets)
            for i in ([run] if lines else range(1, run + 1)) if run else []:  # <s> + what follows the pads
                out[(BOS, *c[i:])].update(targets)
    return out


def _log10_probs(model: NGram, hs: list[tuple[int, ...]]) -> np.ndarray:
    """(len(hs), V) log10 p(. | h) of ARPA contexts h: <s> w is pad^a w seen whole; a literal context of j words
    is what lmladder backs off to, the lower order of j + 1."""
    n, pad, out = model.order, model.pad_id, np.empty((len(hs), model.vocab_size))
    rows = [(h[1:], n - 1) if h[:1] == (BOS,) else (h, len(h)) for h in hs]
    step = max(1, CHUNK // model.vocab_size)
    for s in range(0, len(hs), step):
        part = rows[s : s + step]
        ctx = np.array([[pad] * (n - 1 - len(w)) + list(w) for w, _ in part], dtype=np.int64).reshape(len(part), n - 1)
        out[s : s + step] = model.context_log_probs(ctx, np.array([v for _, v in part])) / math.log(10)
    return np.maximum(out, LOG_ZERO)  # add_k with k=0 gives -1e30 for probability 0


def _blocks(model: NGram, hs: list[tuple[int, ...]]):
    """(first index, (k, V) log10 p(. | h) of the k contexts from there): CHUNK probabilities at a time, never
    contexts x V at once (10.6 GiB for a word-level trigram of Tiny Shakespeare)."""
    step = max(1, CHUNK // model.vocab_size)
    for s in range(0, len(hs), step):
        yield s, _log10_probs(model, hs[s : s + step])


def _entries(model: NGram) -> dict[tuple[int, ...], list]:
    """{n-gram: [log10 p, log10 bow or None]}, prefix-closed (each listed n-gram's context is listed too)."""
    V, lines, B = model.vocab_size, model.boundary_id is not None, model.boundary_id
    targets = _contexts(model)
    hs = sorted(targets)
    out: dict[tuple[int, ...], list] = {}
    bows: dict[tuple[int, ...], float] = {}
    for (s, logp), (_, lower) in zip(_blocks(model, hs), _blocks(model, [h[1:] for h in hs]), strict=True):
        for h, lp, lo in zip(hs[s : s + len(logp)], logp, lower, strict=True):
            listed = np.zeros(V, dtype=bool)
            listed[list(targets.pop(h))] = True  # popped: each set goes once its entries are made
            for t in np.flatnonzero(listed).tolist():
                out[(*h, EOS if lines and t == B else t)] = [float(lp[t]), None]
            if h:  # the rest keeps its back-off shape: bow = its mass here / its mass one order lower
                here, below = (10.0 ** lp[~listed]).sum(), (10.0 ** lo[~listed]).sum()
                bows[h] = math.log10(here / below) if (~listed).any() else 0.0  # (all listed: nothing to scale)
    needed = {g[:i] for g in [*out, *(h for h in hs if h)] for i in range(1, len(g) + 1)}
    filled = sorted(needed - set(out) - {(BOS,)})
    del needed
    for s, probs in _blocks(model, [g[:-1] for g in filled]):
        for g, row in zip(filled[s : s + len(probs)], probs, strict=True):
            out[g] = [float(row[g[-1]]), None]
    out[(BOS,)] = [LOG_ZERO, None]  # <s> is never predicted
    if not lines:
        out[(EOS,)] = [LOG_ZERO, None]  # a stream never ends
    for h, bow in bows.items():
        out[h][1] = bow
    return out


def write_arpa(model: NGram, path: str | os.PathLike, words: list[str]) -> dict[int, int]:
    """Write `model` (fitted) to `path` as an ARPA file, atomically; words[i] is token i's word (arpa_words).
    Returns the number of n-grams per order, as the \\data\\ header lists them."""
    _check(model, words)
    seen = len(model.keys) + sum(len(a) for a in model.levels)  # about the n-grams listed (within 5% measured)
    check_fits(
        seen * NGRAM_BYTES + 3 * CHUNK * 8,
        f"--to arpa of this {model.order}-gram model ({seen:,} n-grams, about {NGRAM_BYTES} bytes each while written)",
        "export a model of lower order (bigram.model.order=), or free some memory",
    )
    entries = _entries(model)
    names = {BOS: "<s>", EOS: "</s>", **dict(enumerate(words))}
    by_order: dict[int, list] = defaultdict(list)
    for g in sorted(entries):
        by_order[len(g)].append(g)
    counts = {m: len(by_order[m]) for m in range(1, model.order + 1)}
    with atomic_writer(path, "w") as f:
        f.write("\\data\\\n" + "".join(f"ngram {m}={c}\n" for m, c in counts.items()))
        for m in counts:
            f.write(f"\n\\{m}-grams:\n")
            for g in by_order[m]:
                lp, bow = entries[g]
                tail = "" if bow is None else f"\t{bow:.10g}"
                f.write(f"{lp:.10g}\t{' '.join(names[s] for s in g)}{tail}\n")
        f.write("\n\\end\\\n")
    return counts
