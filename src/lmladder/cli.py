"""The `lmladder` command: sample from or score text with any checkpoint (and, see `report`, compare runs).

lmladder sample outputs/transformer/seed0/model.safetensors --num-samples 5 --temperature 0.8
lmladder evaluate outputs/mlp/seed0/model.safetensors --text held_out.txt
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence

import numpy as np

from .errors import LmladderError


class CliError(LmladderError, ValueError):
    """Bad command-line input; the message names the option and the fix."""


def _load(path: str):
    from .training.checkpoints import load_training_checkpoint

    return load_training_checkpoint(path)


def cmd_sample(a: argparse.Namespace) -> int:
    from .training.sampling import check_options, generate

    top_k = a.top_k if a.top_k and a.top_k > 0 else (None if a.top_k is None else a.top_k)
    temperature = 0.0 if a.greedy else a.temperature
    check_options(a.max_new_tokens, temperature, top_k, a.top_p)
    if a.num_samples < 1:
        raise CliError(f"--num-samples={a.num_samples} must be >= 1")
    ck = _load(a.checkpoint)
    tok, boundary = ck.tokenizer, ck.tokenizer.boundary_id
    ids = tok.encode(a.prompt) if a.prompt else np.zeros(0, dtype=np.int64)
    if boundary is not None:  # lines corpus: a document starts after the boundary token
        ids = np.concatenate([[boundary], ids]).astype(np.int64)
    elif ids.size == 0:
        nl = tok.encode("\n") if _encodable(tok, "\n") else np.zeros(1, dtype=np.int64)
        ids = nl[:1]
    prompt = np.repeat(ids[None], a.num_samples, axis=0)
    rows = generate(
        ck.model,
        prompt,
        a.max_new_tokens,
        rng=np.random.default_rng(a.seed),
        temperature=temperature,
        top_k=top_k,
        top_p=a.top_p,
        stop_id=boundary,
        use_cache=not a.no_cache,
    )
    for r in rows:
        text = (a.prompt or "") + tok.decode(r[r != boundary] if boundary is not None else r)
        print(text if boundary is not None else text + "\n" + "-" * 40)
    return 0


def _encodable(tok, text: str) -> bool:
    try:
        tok.encode(text)
        return True
    except ValueError:
        return False


def cmd_evaluate(a: argparse.Namespace) -> int:
    from .data import load_source
    from .data.sources import corpus_lines
    from .training.evaluate import score_tokens

    ck = _load(a.checkpoint)
    tok = ck.tokenizer
    src = load_source("file", path=a.text)
    byte_level = tok.to_dict().get("type") == "byte"
    text = src.data if byte_level else src.text()
    lines = tok.boundary_id is not None
    if lines:
        nl = b"\n" if byte_level else "\n"
        text = nl + nl.join(corpus_lines(text)) + nl
    try:
        ids = tok.encode(text)
    except ValueError as e:
        raise CliError(
            f"{a.text} does not fit the checkpoint's vocabulary ({e}); score it with a checkpoint "
            "trained on similar text, or one with tokenizer=byte"
        ) from None
    n_chars = len(tok.decode(ids[1:])) if byte_level else None
    scores = score_tokens(
        ck.model,
        ids,
        kind="lines" if lines else "stream",
        boundary_id=tok.boundary_id,
        n_chars=n_chars,
        batch_size=a.batch_size,
    )
    print(
        json.dumps({"checkpoint": a.checkpoint, "text": a.text, "model": ck.meta["model"]["kind"], **scores}, indent=2)
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="lmladder", description="Sample from, score and compare lmladder models.")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("sample", help="generate text from a checkpoint")
    s.add_argument("checkpoint")
    s.add_argument("--prompt", default="", help="text to continue (cropped on the left to the model's context)")
    s.add_argument("--num-samples", type=int, default=5)
    s.add_argument("--max-new-tokens", type=int, default=200)
    s.add_argument("--temperature", type=float, default=1.0, help="0 = greedy")
    s.add_argument("--top-k", type=int, default=None)
    s.add_argument("--top-p", type=float, default=None)
    s.add_argument("--greedy", action="store_true", help="always take the most likely token")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--no-cache", action="store_true", help="decode without the KV cache (GPT)")
    s.set_defaults(func=cmd_sample)

    e = sub.add_parser("evaluate", help="score a text file: NLL, perplexity, bits per char (JSON)")
    e.add_argument("checkpoint")
    e.add_argument("--text", required=True, help="UTF-8 text file (one document per line for names models)")
    e.add_argument("--batch-size", type=int, default=32)
    e.set_defaults(func=cmd_evaluate)

    from .sweep_report import add_report_commands

    add_report_commands(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except LmladderError as e:
        if os.environ.get("LMLADDER_DEBUG"):
            raise
        print(f"lmladder {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
