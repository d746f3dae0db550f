"""Take a trained model out of lmladder: `export(checkpoint_or_run, to, out)`, one writer per format in FORMATS.

    export("outputs/transformer/seed0", "hf", "gpt-hf")        # AutoModelForCausalLM.from_pretrained("gpt-hf")
    export("outputs/transformer/seed0", "gguf", "gpt.gguf")     # llama.cpp
    export("outputs/bigram/seed0", "arpa", "ngram.arpa")         # KenLM, SRILM

A format is its writer, whether it writes a folder or a file, and the rungs it takes; `lmladder export --to` and
the messages below list FORMATS, so a new format is one entry here. Every export is written to a temporary sibling
and renamed into place: a failure or a kill leaves no half-written export, and an existing one is replaced only
with force=True, and then only if it is an earlier export of the same format (outputs.py); a killed export's
temporaries are removed by the next export to the same path. The writers import their libraries (tokenizers, gguf:
the `export` extra) only when they run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..io import atomic_path, checkpoint_path, output_folder, remove_stale_temps
from .errors import ExportError
from .outputs import check_output, earlier_arpa, earlier_gguf, earlier_hf, library_writes

if TYPE_CHECKING:  # the CLI lists FORMATS without importing the models
    from ..checkpoints import Checkpoint


def _hf(ck: Checkpoint, out: Path) -> None:
    from .hf import write_hf

    write_hf(ck, out)


def _gguf(ck: Checkpoint, out: Path) -> None:
    from .gguf_file import write_gguf

    write_gguf(ck, out)


def _arpa(ck: Checkpoint, out: Path) -> None:
    from .arpa import arpa_words, write_arpa

    write_arpa(ck.model, out, arpa_words(ck.tokenizer))


@dataclass(frozen=True)
class Format:
    write: Callable[[Checkpoint, Path], None]  # writes the export at a fresh temporary path (a made folder, or a file)
    folder: bool  # the output is a folder (else one file)
    rungs: tuple[str, ...]  # the rungs whose checkpoints it takes
    what: str
    earlier: Callable[[Path], str | None]  # None if the path holds an earlier export of it (force may replace it)


FORMATS: dict[str, Format] = {
    "hf": Format(
        _hf,
        True,
        ("transformer",),
        "a Hugging Face transformers folder (GPT2LMHeadModel + tokenizer.json)",
        earlier_hf,
    ),
    "gguf": Format(_gguf, False, ("transformer",), "a llama.cpp GGUF file (architecture gpt2)", earlier_gguf),
    "arpa": Format(_arpa, False, ("bigram",), "an ARPA back-off n-gram file (KenLM, SRILM)", earlier_arpa),
}


def formats_for(rung: str) -> list[str]:
    return [name for name, f in FORMATS.items() if rung in f.rungs]


def export(source: str | Path, to: str, out: str | Path, *, force: bool = False) -> Path:
    """Export the checkpoint (or run folder) `source` as format `to` at `out`; returns `out`."""
    if to not in FORMATS:
        known = "; ".join(f"{name}: {f.what}" for name, f in FORMATS.items())
        raise ExportError(f"--to {to!r} is no format lmladder exports; choose one of {known}")
    spec, out = FORMATS[to], Path(out)
    checkpoint = checkpoint_path(source, error=ExportError)
    check_output(out, to=to, folder=spec.folder, force=force, checkpoint=checkpoint, earlier=spec.earlier)
    remove_stale_temps(out.parent, of=out.name)  # what a killed export of this path left behind
    from ..checkpoints import load_training_checkpoint

    ck = load_training_checkpoint(checkpoint)
    rung = ck.model.rung
    if rung not in spec.rungs:
        others = formats_for(rung)
        fix = f"export it with --to {' or '.join(others)}" if others else f"no format takes a {rung} model yet"
        takes = "; ".join(f"{name}: {', '.join(f.rungs)}" for name, f in FORMATS.items())
        raise ExportError(
            f"{checkpoint} holds a {rung} model, which --to {to} cannot take (formats by rung: {takes}); {fix} — "
            "lmladder sample / evaluate still read it"
        )
    if spec.folder:  # checked again, given its marker and swapped in (io.outputs)
        again = dict(force=force, option="", inputs=(checkpoint,), earlier=spec.earlier, error=ExportError)
        place = output_folder(out, writer=f"export --to {to}", **again)
    else:
        place = atomic_path(out)
    with place as tmp, library_writes(out):
        spec.write(ck, Path(tmp))
    return out


__all__ = ["FORMATS", "ExportError", "Format", "export", "formats_for"]
