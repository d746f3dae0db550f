"""`lmladder inspect RUN`: pictures of a run or checkpoint, in a folder with one self-contained index.html."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..io import checkpoint_path
from .common import CliError, unknown_char


def cmd_inspect(a: argparse.Namespace) -> int:
    """Pictures of a run or checkpoint (see lmladder.insight) into a folder with one self-contained index.html."""
    from ..checkpoints import load_training_checkpoint
    from ..insight import inspect_run
    from ..io import check_output_folder, output_folder
    from .diff import run_positions

    checkpoint = checkpoint_path(a.target, error=CliError)
    out = Path(a.out) if a.out else checkpoint.parent / "inspect"
    place = {"writer": "inspect", "inputs": [checkpoint, *([a.data] if a.data else [])]}
    check_output_folder(out, **place)  # before loading the model: a refusal costs nothing
    ids = None
    if a.prompt is not None:
        if not a.prompt:
            raise CliError("--prompt is empty; give some text, or leave --prompt out to use the start of a sample")
        tok = load_training_checkpoint(checkpoint).tokenizer
        if err := unknown_char(tok, a.prompt, "--prompt", "remove it from the prompt"):
            raise err
        ids = tok.encode(a.prompt)
    positions = lambda ck: run_positions(ck, a.data)  # noqa: E731 - once inspect_run has read the checkpoint
    note = lambda line: print(f"[inspect] {line}", file=sys.stderr)  # noqa: E731 - a picture not drawn
    with output_folder(out, **place) as tmp:
        page = inspect_run(checkpoint, tmp, prompt_ids=ids, layer=a.layer, seed=a.seed, log=note, positions=positions)
    print(f"[inspect] {out / page.name}")
    return 0


def add_parser(sub) -> None:
    i = sub.add_parser("inspect", help="pictures of a run or checkpoint, in a folder with index.html")
    i.add_argument("target", help="a run folder (outputs/<rung>/seed<N>, a Hydra job folder) or a checkpoint file")
    i.add_argument("--out", help="where to write (default: <run folder>/inspect)")
    i.add_argument("--prompt", help="text for the attention maps and next-token table (default: a sample's start)")
    i.add_argument("--layer", type=int, help="draw this attention layer only (default: all)")
    i.add_argument("--seed", type=int, default=0, help="seed of the sample the histograms are taken on")
    i.add_argument(
        "--data", help="prepared data whose val split the loss-by-position curve is drawn on (default: the run's own)"
    )
    i.set_defaults(func=cmd_inspect)
