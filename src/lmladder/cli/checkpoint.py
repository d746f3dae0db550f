"""The commands that read a checkpoint: `lmladder sample` and `lmladder evaluate` (parsed in cli.py)."""

from __future__ import annotations

import argparse
import codecs
import json
import math
import os
import sys

import numpy as np

from ..errors import LmladderError
from ..io import path_kind


class CliError(LmladderError, ValueError):
    """Bad command-line input; the message names the option and the fix."""


def _check_sample_options(a: argparse.Namespace) -> None:
    # checked here, in the words of the command line, before the checkpoint is even opened
    if a.num_samples is not None and a.num_samples < 1:
        raise CliError(f"--num-samples {a.num_samples} must be >= 1")
    if a.max_new_tokens < 0:
        raise CliError(f"--max-new-tokens {a.max_new_tokens} must be >= 0")
    if a.temperature is not None and not a.temperature >= 0:
        raise CliError(f"--temperature {a.temperature} must be >= 0 (0 = greedy, 1 = the model's own distribution)")
    if a.top_k is not None and a.top_k < 1:
        raise CliError(f"--top-k {a.top_k} must be >= 1; leave it out to sample from every token")
    if a.top_p is not None and not 0 < a.top_p <= 1:
        raise CliError(f"--top-p {a.top_p} must be in (0, 1]; leave it out to keep the whole distribution")
    if a.stop == "":
        raise CliError("--stop is empty; give the text that ends a sample (e.g. --stop $'\\n\\n'), or leave it out")
    if a.prompt is not None and a.prompt_file is not None:
        raise CliError("--prompt and --prompt-file both given; pass the prompt one way (text or file), not both")
    if a.beam is None:
        return
    if a.beam < 1:
        raise CliError(f"--beam {a.beam} must be >= 1 (1 = greedy decoding); leave it out to sample")
    drawn = [
        f for f, v in (("--temperature", a.temperature), ("--top-k", a.top_k), ("--top-p", a.top_p)) if v is not None
    ]
    if drawn or a.greedy:  # beam search draws nothing: these would silently do nothing
        flag = drawn[0] if drawn else "--greedy"
        raise CliError(
            f"--beam {a.beam} with {flag}: beam search is deterministic and draws nothing; leave out {flag} "
            "(or --beam, to sample)"
        )
    if a.num_samples is not None and a.num_samples > 1:
        raise CliError(
            f"--beam {a.beam} with --num-samples {a.num_samples}: beam search gives the same one result every "
            "time; leave out --num-samples"
        )


def unknown_char(tok, text: str, what: str, fix: str) -> CliError | None:
    hit = tok.first_unknown(text) if hasattr(tok, "first_unknown") else None
    if hit is None:
        return None
    i, c = hit
    col = i - text.rfind("\n", 0, i)  # 1-based
    where = f"line {text.count(chr(10), 0, i) + 1}, column {col}" if "\n" in text else f"position {i}"
    known = "".join(ch for ch in getattr(tok, "itos", []) if ch.isprintable())
    hint = f" (it knows {known[:40]!r}{'...' if len(known) > 40 else ''})" if known else ""
    return CliError(
        f"{what} has the character {c!r} (U+{ord(c):04X}) at {where}, which is not in the checkpoint's "
        f"{tok.vocab_size}-symbol vocabulary{hint}; {fix}"
    )


class Interrupted(KeyboardInterrupt):
    """Ctrl-C, carrying how far the command got ("after 2 of 5 samples")."""


def cmd_sample(a: argparse.Namespace) -> int:
    """Each sample is printed (and flushed) as soon as it is drawn, so Ctrl-C or `| head` keeps the finished ones.
    Beam search prints its one result when the search ends."""
    from ..checkpoints import load_training_checkpoint
    from ..inference.beam import beam_search
    from ..inference.sampling import start_token, stop_at, stop_token, stream
    from ..training.budget import check_beam

    _check_sample_options(a)
    temperature = 0.0 if a.greedy else 1.0 if a.temperature is None else a.temperature
    num_samples = a.num_samples or (1 if a.beam else 5)
    done = 0
    try:
        ck = load_training_checkpoint(a.checkpoint)
        tok, boundary = ck.tokenizer, ck.tokenizer.boundary_id
        stop_id = stop_token(tok)  # the boundary of a lines corpus, or <|endoftext|>: drawing it ends a sample
        what = "--prompt" if a.prompt_file is None else f"--prompt-file {a.prompt_file}"
        prompt = _prompt(tok, a.prompt or "") if a.prompt_file is None else _prompt_file(tok, a.prompt_file)
        shown = prompt.decode("utf-8", errors="replace") if isinstance(prompt, bytes) else prompt
        if err := unknown_char(tok, shown, what, "remove it from the prompt, or use a checkpoint trained on it"):
            raise err
        _warn_unknown_words(tok, shown, what)
        ids = tok.encode(prompt) if prompt else np.zeros(0, dtype=np.int64)
        if boundary is not None:  # lines corpus: a document starts after the boundary token
            ids = np.concatenate([[boundary], ids]).astype(np.int64)
        elif ids.size == 0:
            ids = np.array([start_token(tok)], dtype=np.int64)
        if a.beam:
            check_beam(ck.model, a.beam, len(ids), a.max_new_tokens)
        rng = np.random.default_rng(a.seed)
        out = sys.stdout
        for _ in range(num_samples):  # one at a time, one Generator: seeded, and each shown as it is drawn
            if a.beam:
                new = iter(beam_search(ck.model, ids, a.max_new_tokens, a.beam, stop_id=stop_id).ids.tolist())
            else:
                steps = stream(
                    ck.model,
                    ids[None],
                    a.max_new_tokens,
                    rng=rng,
                    temperature=temperature,
                    top_k=a.top_k,
                    top_p=a.top_p,
                    use_cache=not a.no_cache,
                )
                new = (int(t[0]) for t in steps)
            out.write(shown)
            pieces = _pieces(tok, ids[-1], new, stop_id)
            for piece in pieces if a.stop is None else stop_at(pieces, a.stop):
                out.write(piece)
                out.flush()
            done += 1  # counted before the separator: a Ctrl-C right after the last piece must not miss it
            out.write("\n" if boundary is not None else "\n" + "-" * 40 + "\n")
            out.flush()
    except KeyboardInterrupt:
        raise Interrupted(f"after {done} of {num_samples} samples") from None
    return 0


def _prompt_file(tok, path: str) -> str | bytes:
    """The prompt in the file at `path`: bytes for a byte tokenizer, else UTF-8 text. A lines model's documents are
    lines, so the file's final newline (as `echo ja > p.txt` writes it) is no part of the prompt."""
    data = _read_file(path, "--prompt-file", "encoding a prompt", "give the path of a text file that holds the prompt")
    if tok.boundary_id is not None:
        data = data.removesuffix(b"\n")
    if tok.reads_bytes:
        return data
    fix = "re-save it as UTF-8, or use a checkpoint trained with tokenizer=byte, which takes any bytes"
    return _utf8(data, _named("--prompt-file", path), fix)


def _read_file(path: str, option: str, use: str, fix: str) -> bytes:
    """The bytes of a file an option names: a regular file, or "-" for standard input, and no larger than fits in
    memory for `use`."""
    from ..io import read_stdin, read_user_file
    from ..resources import text_limit

    cap, too_big = text_limit(use, path)
    if path == "-":
        return read_stdin(what=_named(option, path), error=CliError, max_bytes=cap, too_big=too_big)
    return read_user_file(path, what=_named(option, path), fix=fix, error=CliError, max_bytes=cap, too_big=too_big)


def _named(option: str, path: str) -> str:
    return f"{option} - (standard input)" if path == "-" else f"{option} {path}"


def _utf8(data: bytes, what: str, fix: str) -> str:
    try:
        return data.decode("utf-8").removeprefix("\ufeff")  # a byte order mark is no text
    except UnicodeDecodeError as e:
        raise CliError(f"{what} is not valid UTF-8 (byte {data[e.start]:#04x} at offset {e.start}); {fix}") from None


def _prompt(tok, prompt: str) -> str | bytes:
    """The prompt to encode. argv bytes that are not UTF-8 arrive as lone surrogates (surrogateescape): a byte
    tokenizer takes those bytes as they are; any other tokenizer reads text, so they are refused."""
    try:
        prompt.encode("utf-8")
        return prompt
    except UnicodeEncodeError:
        pass
    where = ""
    try:
        raw = os.fsencode(prompt)  # the argv bytes back
        raw.decode("utf-8")
    except UnicodeDecodeError as e:
        if tok.reads_bytes:
            return raw
        where = f" (byte {raw[e.start]:#04x} at offset {e.start})"
    except UnicodeEncodeError:  # surrogates that did not come from argv (a caller's str): no bytes to name
        pass
    raise CliError(
        f"--prompt is not valid UTF-8{where}; pass UTF-8 text (a UTF-8 locale), or use a checkpoint trained with "
        "tokenizer=byte, which takes any bytes"
    )


def _continuation(tok, prompt_ids: np.ndarray, new_ids: np.ndarray) -> str:
    """The text `new_ids` add after the prompt: decoded after the prompt's last token, so a word tokenizer puts
    the space between them (for characters, bytes and BPE this is just decode(new_ids))."""
    last = prompt_ids[-1:]
    return tok.decode(np.concatenate([last, new_ids]).astype(np.int64))[len(tok.decode(last)) :]


def _pieces(tok, prev: int, ids, stop_id: int | None):
    """The text of each id of `ids` as it comes (up to `stop_id`, not shown), joined equal to decoding them all at
    once: byte-level vocabularies (token_bytes) go through an incremental UTF-8 decoder, since a character may span
    tokens."""
    if hasattr(tok, "token_bytes"):
        decoder = codecs.getincrementaldecoder("utf-8")(errors=tok.decode_errors)
        for i in ids:
            if i == stop_id:
                break
            yield decoder.decode(tok.token_bytes(i))
        yield decoder.decode(b"", final=True)
        return
    for i in ids:
        if i == stop_id:
            break
        yield _continuation(tok, np.array([prev]), np.array([i]))
        prev = i


def _warn_unknown_words(tok, text: str, what: str) -> None:
    """A word vocabulary maps words it lacks to <unk>: say so (on stderr), but go on."""
    words = tok.unknown_words(text) if hasattr(tok, "unknown_words") else []
    if words:
        n = tok.count_unknown(text)
        shown = ", ".join(map(repr, words)) + (", ..." if n > len(words) else "")
        print(
            f"lmladder: warning: {what} has {n} word(s) outside the vocabulary ({shown}); they read as <unk>",
            file=sys.stderr,
        )


def _read_text(path: str, byte_level: bool) -> str | bytes:
    data = _read_file(path, "--text", "scoring", "give the path of a text file to score")
    what = _named("--text", path)
    if not data:
        raise CliError(f"{what} is empty; give a file with text to score")
    if not data.strip():
        raise CliError(f"{what} holds only whitespace ({len(data)} bytes); give a file with text to score")
    if byte_level:
        return data
    return _utf8(data, what, "re-save it as UTF-8 (this checkpoint's character vocabulary reads UTF-8 text)")


def _documents(path: str, text) -> list:
    """The documents of a names-style checkpoint's text: one per line, none blank."""
    from ..data.sources import split_lines

    lines, blank = split_lines(text)
    if blank is not None:
        raise CliError(
            f"--text {path}: line {blank + 1} is blank, but this checkpoint models one document per line "
            f"(e.g. one name); remove the blank lines (e.g. grep -v '^$' {path} > clean.txt)"
        )
    return lines


def encode_text_file(tok, path: str) -> tuple[str | bytes, np.ndarray]:
    """(text, ids) of the text file at `path` ("-": stdin) as `tok` reads it: a lines tokenizer's documents one
    per line, framed by boundaries as a prepared split is; refused in one line when empty, not UTF-8, holding a
    character the vocabulary lacks, or shorter than one prediction."""
    byte_level = tok.reads_bytes
    text = _read_text(path, byte_level)
    lines = tok.boundary_id is not None
    if lines:
        nl = b"\n" if byte_level else "\n"
        text = nl.join(_documents(path, text))
    fix = "score it with a checkpoint trained on similar text (or one with tokenizer=byte)"
    if not byte_level and (err := unknown_char(tok, text, f"--text {path}", fix)):
        raise err
    _warn_unknown_words(tok, text, f"--text {path}")
    if lines:
        text = nl + text + nl  # a lines split is [B, doc1, B, doc2, ..., B]
    ids = tok.encode(text)
    if len(ids) < 2:
        raise CliError(f"--text {path} holds {len(ids)} token; it needs at least 2 to score a prediction")
    return text, ids


def cmd_evaluate(a: argparse.Namespace) -> int:
    from ..checkpoints import load_training_checkpoint
    from ..data.prepared import text_sizes
    from ..inference.scoring import IMPOSSIBLE_FIX, PROGRESS_FROM, score_tokens
    from ..inference.units import save_units, split_units

    if a.batch_size < 1:
        raise CliError(f"--batch-size {a.batch_size} must be >= 1")
    if a.units and not a.force and path_kind(a.units) == "file":  # e.g. a run's own units.npz, which compare reads
        raise CliError(f"--units {a.units} exists; pass --force to replace it, or give a new path")
    ck = load_training_checkpoint(a.checkpoint)
    tok = ck.tokenizer
    kind = "lines" if tok.boundary_id is not None else "stream"
    seq_len = None if a.window is None else _window(ck.model, a.window, kind)
    text, ids = encode_text_file(tok, a.text)
    if a.window is not None:  # a row longer than the text is the whole text: the same rows, none sized by --window
        seq_len = _window(ck.model, min(a.window, len(ids)), kind)
    check_scoring(ck.model, ids, tok.boundary_id, seq_len, a.batch_size, "lower --batch-size or --window")
    n_chars, n_bytes = text_sizes(tok, text, ids)
    token_nll = np.full(len(ids) - 1, np.nan) if a.units else None
    scores = score_tokens(
        ck.model,
        ids,
        boundary_id=tok.boundary_id,
        sizes=(n_chars, n_bytes),
        batch_size=a.batch_size,
        seq_len=seq_len,
        progress=len(ids) > PROGRESS_FROM,
        token_nll=token_nll,
    )
    for key, v in scores.items():  # JSON has no NaN/Infinity: a reader of this output must never see them
        if isinstance(v, float) and not math.isfinite(v):
            raise CliError(
                f"--text {a.text} scores {key}={v}, not a finite number; the model gives some token of it zero "
                f"probability or its outputs overflow — {IMPOSSIBLE_FIX}"
            )
    out = {"checkpoint": a.checkpoint, "text": a.text, "rung": ck.model.rung, **scores}
    if a.window is not None:
        out["window"] = ck.model.window(seq_len)
    if a.units:  # the same per-unit file a run writes, with the text as its one split
        save_units(a.units, {"text": split_units(tok, ids, token_nll, kind=kind, boundary_id=tok.boundary_id)})
        out["units"] = a.units
    print(json.dumps(out, indent=2, allow_nan=False))
    return 0


def check_scoring(model, ids, boundary_id: int | None, seq_len: int | None, batch_size: int, fix: str) -> float:
    """Refuse a scoring of `ids` in batches of `batch_size` rows whose forward cannot fit (a window of 10^9 tokens
    on a long text: one row of all of it), before any is allocated; returns the bytes it needs."""
    from ..data.batching import eval_plan
    from ..resources import check_fits
    from ..training.budget import scoring_bytes

    T = model.window(seq_len)
    kind = "stream" if boundary_id is None else "lines"
    starts, widths, _ = eval_plan(ids, kind=kind, boundary_id=boundary_id, seq_len=T)
    rows, width = min(batch_size, len(starts)), int(widths.max())
    need = scoring_bytes(model, width, rows)
    check_fits(need, f"scoring {rows} row{'s' * (rows > 1)} of {width:,} tokens at once with a {model.rung} model", fix)
    return need


def _window(model, n: int, kind: str) -> int | None:
    """The seq_len that makes `model` score in rows of n tokens (--window), or a CliError saying why it cannot."""
    from ..models.base import ModelConfigError

    if n < 2:
        raise CliError(f"--window {n} must be >= 2: a row of n tokens predicts n - 1 of them")
    seq_len = n if model.block_size is None else None  # MLP, RNNs, n-grams: rows of any length
    if seq_len is None:
        if not hasattr(model, "set_context"):
            raise CliError(
                f"--window {n}: a {model.rung} model scores in rows of its own block_size={model.block_size}; "
                "--window is for the GPT and the rungs without a context limit"
            )
        try:
            model.set_context(n)
        except ModelConfigError as e:
            raise CliError(f"--window {n}: {e}") from None
    if kind == "lines":
        raise CliError(
            f"--window {n}: this model's corpus is one document per line, and each document is scored alone "
            "in its own row; leave --window out"
        )
    return seq_len
