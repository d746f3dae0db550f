"""`lmladder sample CHECKPOINT`: text from any rung, drawn (or beam-searched) and shown as it comes."""

from __future__ import annotations

import argparse
import codecs
import os
import sys

import numpy as np

from .common import CliError, named, read_file, unknown_char, utf8, warn_unknown_words


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
        warn_unknown_words(tok, shown, what)
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
    data = read_file(path, "--prompt-file", "encoding a prompt", "give the path of a text file that holds the prompt")
    if tok.boundary_id is not None:
        data = data.removesuffix(b"\n")
    if tok.reads_bytes:
        return data
    fix = "re-save it as UTF-8, or use a checkpoint trained with tokenizer=byte, which takes any bytes"
    return utf8(data, named("--prompt-file", path), fix)


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


def add_parser(sub) -> None:
    s = sub.add_parser("sample", help="generate text from a checkpoint")
    s.add_argument("checkpoint")
    s.add_argument("--prompt", help="text to continue (cropped on the left to the model's context)")
    s.add_argument(
        "--prompt-file",
        metavar="PATH",
        help="read the prompt from a file, - for stdin (a lines model drops its final newline)",
    )
    s.add_argument("--num-samples", type=int, help="how many samples (default 5; 1 with --beam)")
    s.add_argument("--max-new-tokens", type=int, default=200)
    s.add_argument("--temperature", type=float, help="default 1; 0 = greedy")
    s.add_argument("--top-k", type=int, default=None)
    s.add_argument("--top-p", type=float, default=None)
    s.add_argument("--greedy", action="store_true", help="always take the most likely token")
    s.add_argument(
        "--beam", type=int, metavar="N", help="beam search with N beams: the best by mean log-prob per token"
    )
    s.add_argument("--stop", metavar="STRING", help="end a sample once its new text contains STRING (printed with it)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--no-cache", action="store_true", help="decode without the KV cache (GPT)")
    s.set_defaults(func=cmd_sample)
