"""`lmladder export SOURCE --to FORMAT OUT`: a checkpoint in another program's format (lmladder.export.FORMATS)."""

from __future__ import annotations

import argparse

from ..export import FORMATS, export


def cmd_export(a: argparse.Namespace) -> int:
    """Write a checkpoint in another program's format (see lmladder.export.FORMATS); atomic, so a failure leaves
    nothing half-written, and an existing output is replaced only with --force."""
    out = export(a.source, a.to, a.out, force=a.force)
    print(f"[export] {out}")
    return 0


def add_parser(sub) -> None:
    x = sub.add_parser("export", help="write a checkpoint for other programs (transformers, llama.cpp)")
    x.add_argument("source", help="a run folder (outputs/<rung>/seed<N>) or a model.safetensors")
    formats = "; ".join(f"{k}: {f.what}" for k, f in FORMATS.items())
    x.add_argument("--to", required=True, metavar="FORMAT", help=formats)
    x.add_argument("out", help="where to write: a folder (hf) or a file (gguf)")
    x.add_argument("--force", action="store_true", help="replace an existing, non-empty output")
    x.set_defaults(func=cmd_export)
