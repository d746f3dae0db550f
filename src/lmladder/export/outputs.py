"""What an export may write over: nothing without force=True, and with it only an earlier export of the same format.

`--force` once replaced whatever the output path held (a folder of documents, the parent of the current folder);
each format now recognises its own earlier output by what it writes (`earlier_*` return None for one, else what the
path holds instead, in words for the message), and anything else is refused before any work.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from pathlib import Path

from ..errors import LmladderError
from ..io import path_kind, write_error
from ..io.outputs import check_output_folder
from .errors import ExportError

HF_FILES = ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")
_HEAD = 64  # bytes read to recognise a file export: its magic or header line lies at the start


def _head(path: Path) -> bytes:
    with open(path, "rb") as f:
        return f.read(_HEAD)


def earlier_hf(path: Path) -> str | None:
    """An hf export is a folder of HF_FILES only (config.json always): a user's own file in it is not ours to delete."""
    names = sorted(p.name for p in path.iterdir())
    others = [n for n in names if n not in HF_FILES]
    if others:
        shown = ", ".join(others[:3]) + (f" and {len(others) - 3} more" if len(others) > 3 else "")
        return f"it holds {shown}, which no --to hf export writes"
    if "config.json" not in names:
        return "it has no config.json"
    return None


def earlier_gguf(path: Path) -> str | None:
    return None if _head(path).startswith(b"GGUF") else "it does not start with GGUF's magic bytes"


def earlier_arpa(path: Path) -> str | None:
    return None if _head(path).lstrip().startswith(b"\\data\\") else "it does not start with ARPA's \\data\\ header"


def check_output(out: Path, *, to: str, folder: bool, force: bool, checkpoint: Path, earlier) -> None:
    """Refuse, before any work, an output that is of the wrong kind, would overwrite without force=True, is not an
    earlier `to` export (`earlier(out)`: None, or what it is instead) even with it, or would swallow the checkpoint
    being exported. A folder is checked as every command's output folder is (io.outputs): an export made before
    exports carried the marker is recognised by `earlier`."""
    kind = "folder" if folder else "file"
    if out.name in ("", ".."):  # ., .., / (and an empty path, which is .): a folder that holds others
        example = "gpt-hf" if folder else f"model.{to}"
        raise ExportError(
            f"the output path {str(out)!r} (., .., / or an empty path) is no {kind} an export can replace; give a "
            f"new {kind} path, e.g. {example}"
        )
    if out.resolve() == checkpoint.resolve() or out.resolve() in checkpoint.resolve().parents:
        raise ExportError(f"{out} holds the checkpoint being exported; write the export to another {kind}")
    if folder:
        check_output_folder(out, writer=f"export --to {to}", force=force, option="", earlier=earlier, error=ExportError)
        return
    if not (out.exists() or out.is_symlink()):
        return
    if out.is_dir():
        raise ExportError(f"{out} is a folder, but --to {to} writes one file; give a file path (e.g. model.gguf)")
    if not force:
        raise ExportError(
            f"{out} exists; pass --force to replace it (an earlier --to {to} export), or choose a new file"
        )
    if path_kind(out) not in ("file", "missing"):
        return  # a FIFO or a device: never opened here (it would block); atomic_path refuses it by name
    instead = "a symbolic link" if out.is_symlink() else earlier(out)
    if instead is not None:
        raise ExportError(
            f"{out} is not an earlier --to {to} export ({instead}), and --force replaces only that; move what it "
            f"holds away, or choose a new file"
        )


@contextlib.contextmanager
def library_writes(path: Path) -> Iterator[None]:
    """A writer library's own I/O error as the WriteError any other write gets (one line naming `path` and the
    fix): safetensors and tokenizers are Rust, and raise their own exception types whose messages end in Rust's
    "(os error 28)"; gguf-py and the ARPA writer raise OSError, which the atomic writers turn already."""
    try:
        yield
    except (OSError, LmladderError):
        raise
    except Exception as e:
        if (m := re.search(r"\(os error (\d+)\)", str(e))) is None:
            raise
        code = int(m.group(1))
        raise write_error(path, OSError(code, os.strerror(code))) from e
