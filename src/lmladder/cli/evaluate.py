"""`lmladder evaluate CHECKPOINT --text FILE`: NLL, perplexity and bits per character of a text file (JSON)."""

from __future__ import annotations

import argparse
import json
import math

import numpy as np

from ..io import path_kind
from .common import CliError, check_scoring, encode_text_file


def cmd_evaluate(a: argparse.Namespace) -> int:
    from ..checkpoints import load_training_checkpoint
    from ..data.prepared import text_sizes
    from ..inference.scoring import IMPOSSIBLE_FIX, PROGRESS_FROM, score_tokens
    from ..inference.units import save_units, split_units

    if a.batch_size is not None and a.batch_size < 1:
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


def add_parser(sub) -> None:
    e = sub.add_parser("evaluate", help="score a text file: NLL, perplexity, bits per char (JSON)")
    e.add_argument("checkpoint")
    e.add_argument("--text", required=True, help="UTF-8 text file, - for stdin (a document per line for names models)")
    e.add_argument("--batch-size", type=int, help="rows per forward (default: as many as pay, within the memory)")
    e.add_argument("--units", metavar="PATH", help="also write per-unit scores (.npz: documents or 1,000-char blocks)")
    e.add_argument("--force", action="store_true", help="replace an existing --units file")
    e.add_argument(
        "--window", type=int, metavar="N",
        help="score in half-overlapping rows of N tokens instead of the model's own length (a rotary GPT may "
        "read beyond the length it was trained on)",
    )  # fmt: skip
    e.set_defaults(func=cmd_evaluate)
