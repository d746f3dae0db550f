"""What the commands share: CliError, and reading a text file a user names (--text, --prompt-file) as a checkpoint's
tokenizer reads it, refused in one line when it cannot be."""

from __future__ import annotations

import sys

import numpy as np

from ..errors import LmladderError


class CliError(LmladderError, ValueError):
    """Bad command-line input; the message names the option and the fix."""


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


def read_file(path: str, option: str, use: str, fix: str) -> bytes:
    """The bytes of a file an option names: a regular file, or "-" for standard input, and no larger than fits in
    memory for `use`."""
    from ..io import read_stdin, read_user_file
    from ..resources import text_limit

    cap, too_big = text_limit(use, path)
    if path == "-":
        return read_stdin(what=named(option, path), error=CliError, max_bytes=cap, too_big=too_big)
    return read_user_file(path, what=named(option, path), fix=fix, error=CliError, max_bytes=cap, too_big=too_big)


def named(option: str, path: str) -> str:
    return f"{option} - (standard input)" if path == "-" else f"{option} {path}"


def utf8(data: bytes, what: str, fix: str) -> str:
    try:
        return data.decode("utf-8").removeprefix("\ufeff")  # a byte order mark is no text
    except UnicodeDecodeError as e:
        raise CliError(f"{what} is not valid UTF-8 (byte {data[e.start]:#04x} at offset {e.start}); {fix}") from None


def warn_unknown_words(tok, text: str, what: str) -> None:
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
    data = read_file(path, "--text", "scoring", "give the path of a text file to score")
    what = named("--text", path)
    if not data:
        raise CliError(f"{what} is empty; give a file with text to score")
    if not data.strip():
        raise CliError(f"{what} holds only whitespace ({len(data)} bytes); give a file with text to score")
    if byte_level:
        return data
    return utf8(data, what, "re-save it as UTF-8 (this checkpoint's character vocabulary reads UTF-8 text)")


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
    warn_unknown_words(tok, text, f"--text {path}")
    if lines:
        text = nl + text + nl  # a lines split is [B, doc1, B, doc2, ..., B]
    ids = tok.encode(text)
    if len(ids) < 2:
        raise CliError(f"--text {path} holds {len(ids)} token; it needs at least 2 to score a prediction")
    return text, ids


def check_scoring(model, ids, boundary_id: int | None, seq_len: int | None, batch_size: int | None, fix: str) -> float:
    """Refuse a scoring of `ids` in batches of `batch_size` rows whose forward cannot fit (a window of 10^9 tokens
    on a long text: one row of all of it), before any is allocated; returns the bytes it needs. batch_size None:
    scoring takes as many rows as fit (scoring.score_rows), so one row must."""
    from ..data.batching import eval_plan
    from ..resources import check_fits
    from ..training.budget import scoring_bytes

    T = model.window(seq_len)
    kind = "stream" if boundary_id is None else "lines"
    starts, widths, _ = eval_plan(ids, kind=kind, boundary_id=boundary_id, seq_len=T)
    rows, width = min(batch_size or 1, len(starts)), int(widths.max())
    need = scoring_bytes(model, width, rows)
    check_fits(need, f"scoring {rows} row{'s' * (rows > 1)} of {width:,} tokens at once with a {model.rung} model", fix)
    return need
