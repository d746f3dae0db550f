"""The `lmladder` command: sample from or score text with any checkpoint, tabulate runs and compare tables.

lmladder sample outputs/transformer/seed0/model.safetensors --num-samples 5 --temperature 0.8
lmladder sample outputs/rnn/seed0/model.safetensors --prompt-file prompt.txt --beam 5 --stop $'\n\n'
lmladder evaluate outputs/mlp/seed0/model.safetensors --text held_out.txt
lmladder report outputs/multirun/2026-11-22/05-07-32          # -> that folder's report/ (CSV, Markdown, PNG)
lmladder report outputs                                       # the DVC pipeline's outputs/<rung>/seed<N>
lmladder compare outputs/multirun/A outputs/multirun/B        # two sweeps, row by row
lmladder compare HEAD:                                        # last commit's outputs/reports vs the workspace
lmladder compare my-exp: other-exp:                           # two DVC experiments (names from `dvc exp show`)
lmladder compare outputs/bigram/seed0 outputs/mlp/seed0       # two single runs: one row, A against B
lmladder diff outputs/bigram/seed0 outputs/transformer/seed0  # where on val B beats A: diff-*/index.html
lmladder export outputs/transformer/seed0 --to hf gpt-hf      # transformers folder; --to gguf gpt.gguf: llama.cpp
lmladder frontier plan conf/frontier/names.yaml               # a compute-frontier study (frontier.py)

One module per command, its parser and its body side by side (command.py lists them); common.py holds what they
share. This package's own import is light on purpose: the `lmladder` console script imports it before anything
could catch a Ctrl-C, so the commands (NumPy, pandas, the models) are imported inside `main`, where a Ctrl-C is the
same one line and exit 130 as under `python -m lmladder`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..environment import command_name
from ..interrupt import quietly

if TYPE_CHECKING:
    import argparse


def main(argv: Sequence[str] | None = None) -> int:
    """Run the `lmladder` command on `argv` (default: the process's own); returns its exit status."""
    with quietly(name=None if argv is None else command_name(["lmladder", *argv])):
        from .command import run
    return run(argv)


def build_parser() -> argparse.ArgumentParser:
    """The whole command line's parser (every command's options)."""
    from .command import build_parser as every_command

    return every_command()
