"""`lmladder diff A B` (where on a text B beats A), the loss-by-position curve of `lmladder inspect`, and the
single-run sides of `lmladder compare` (parsed in cli.py).

A and B are run folders (outputs/<rung>/seed<N>, a Hydra job folder) or checkpoint files. The text is a split of
prepared data (by default A's own, `paths.prepared` of its config, read from the current folder) or `--text FILE`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from .cli_checkpoint import CliError, encode_text_file, unknown_char
from .io import check_output_folder, output_folder, path_kind

CORPUS_KEYS = ("name", "source", "path", "url", "sha256", "year", "kind", "fractions", "split_seed")


def checkpoint_path(target: str) -> Path:
    p = Path(target)
    kind = path_kind(p)
    if kind == "a directory" and path_kind(p / "model.safetensors") == "file":
        return p / "model.safetensors"
    if kind == "file":
        return p
    what = {"a directory": "holds no model.safetensors", "missing": "no such file or folder"}.get(kind, f"is {kind}")
    raise CliError(f"{target}: {what}; give a run folder (outputs/<rung>/seed<N>) or a model.safetensors")


def _prepared(ck, data: str | None):
    """(prepared data, its path) for `ck`: `data`, else the run's own, found as its training stage found it
    (paths.prepared, or the cache beside it; relative paths from the current folder), or (None, where it looked)."""
    from .data.config import DataConfig
    from .data.prepared import load_prepared
    from .data.store import find_prepared

    if data is None:
        where = (ck.meta.get("config") or {}).get("paths", {}).get("prepared") or "data/prepared"
        try:
            found = find_prepared(
                DataConfig(**ck.meta["data"]), prepared_dir=where, cache_root=Path(where).parent / "cache"
            )
        except (KeyError, TypeError):  # a checkpoint that records no data config
            found = None
        return found or (None, where)
    if path_kind(Path(data) / "vocab.json") != "file":  # a corpus folder, a typo
        raise CliError(f"--data {data} holds no prepared data (no vocab.json); give the run's data/prepared folder")
    prepared = load_prepared(data)
    if prepared.tokenizer.to_dict() != ck.tokenizer.to_dict():
        raise CliError(f"--data {data} has another vocabulary than the checkpoint; give the data it was trained on")
    return prepared, data


def run_positions(ck, data: str | None):
    """The checkpoint's loss against position on the val split of its prepared data, or why there is none."""
    from .inference.positions import position_curve

    prepared, path = _prepared(ck, data)
    if prepared is None or prepared.tokenizer.to_dict() != ck.tokenizer.to_dict():
        why = "is not here" if prepared is None else "holds another vocabulary"
        return f"its prepared data ({path}) {why}; give --data DIR (the run's data/prepared) to draw it"
    return position_curve(ck.model, prepared.splits["val"], boundary_id=prepared.boundary_id)


def _corpus(ck) -> dict:
    return {k: v for k, v in (ck.meta.get("data") or {}).items() if k in CORPUS_KEYS}


def _text_ids(ck_a, ck_b, a: argparse.Namespace) -> tuple[str, dict]:
    """(what the text is, side -> its ids): --text encoded by each tokenizer, or a split of prepared data, encoded
    anew for a side whose tokenizer is not the data's (lined up on characters later)."""
    if a.text is not None:
        return f"--text {a.text}", {
            n: encode_text_file(ck.tokenizer, a.text)[1] for n, ck in (("A", ck_a), ("B", ck_b))
        }
    if a.data is None and _corpus(ck_a) != _corpus(ck_b):
        ca, cb = _corpus(ck_a), _corpus(ck_b)
        raise CliError(
            f"A and B were trained on different texts (A: {ca.get('name')} {ca.get('path') or ''}, B: "
            f"{cb.get('name')} {cb.get('path') or ''}), so their splits differ; give --text FILE to score both on one"
        )
    prepared, path = _prepared(ck_a, a.data)
    if prepared is None:
        raise CliError(f"A's prepared data {path} is not here; run from the project folder, or give --data or --text")
    if a.split not in prepared.splits:
        raise CliError(f"--split {a.split}: {path} has {sorted(prepared.splits)}; pick one of them")
    ids = np.asarray(prepared.splits[a.split])
    out = {}
    for name, ck in (("A", ck_a), ("B", ck_b)):
        if ck.tokenizer.to_dict() == prepared.tokenizer.to_dict():
            out[name] = ids
            continue
        text = prepared.tokenizer.decode(ids)
        fix = "diff models trained on this text, or give --text FILE that both vocabularies cover"
        if err := unknown_char(ck.tokenizer, text, f"the {a.split} split of {path}", fix):
            raise err
        out[name] = ck.tokenizer.encode(text)
    return f"the {a.split} split of {path}", out


def cmd_diff(a: argparse.Namespace) -> int:
    from .checkpoints import load_training_checkpoint
    from .diff import Side, align, write_diff
    from .inference.tokens import token_scores
    from .insight.page import label

    if a.text is not None and a.data is not None:
        raise CliError("--text and --data both given; score a text file or a prepared split, not both")
    if a.batch_size < 1:
        raise CliError(f"--batch-size {a.batch_size} must be >= 1")
    place = {"writer": "diff", "force": a.force, "inputs": [x for x in (a.a, a.b, a.text, a.data) if x]}
    if a.out:
        check_output_folder(a.out, **place)  # before loading or scoring anything: a refusal costs nothing
    cks = {n: load_training_checkpoint(checkpoint_path(t)) for n, t in (("A", a.a), ("B", a.b))}
    out = Path(a.out) if a.out else Path(f"diff-{cks['A'].model.rung}-vs-{cks['B'].model.rung}")
    check_output_folder(out, **place)
    what, ids = _text_ids(cks["A"], cks["B"], a)
    lines = {n: ck.tokenizer.boundary_id is not None for n, ck in cks.items()}
    if lines["A"] != lines["B"]:
        raise CliError("one checkpoint models documents (one per line) and the other a stream; diff two of a kind")
    sides = {}
    for n, target in (("A", a.a), ("B", a.b)):
        ck = cks[n]
        print(f"[diff] scoring {n}: {ck.model.rung} on {len(ids[n]):,} tokens", file=sys.stderr)
        scores = token_scores(ck.model, ids[n], boundary_id=ck.tokenizer.boundary_id, batch_size=a.batch_size)
        sides[n] = Side(n, target, ck.model.rung, ck.tokenizer, np.asarray(ids[n]), scores)
    al = align(sides["A"], sides["B"], lines=lines["A"])
    labels = {n: (lambda i, tok=s.tokenizer: label(tok, i)) for n, s in sides.items()}
    with output_folder(out, **place) as tmp:  # force: output_folder has checked the folder
        page = write_diff(tmp, sides["A"], sides["B"], al, labels=labels, what=what, force=True)
    print(f"[diff] {out / page.name}")
    return 0


def add_parser(sub) -> None:
    d = sub.add_parser("diff", help="where on a text B beats A: a coloured HTML page, spans, classes (CSV/JSON)")
    d.add_argument("a", help="the baseline: a run folder or model.safetensors")
    d.add_argument("b", help="the candidate: a run folder or model.safetensors")
    d.add_argument("--text", help="score this UTF-8 text file (default: a split of the prepared data)")
    d.add_argument("--data", help="prepared data folder (default: A's own paths.prepared, e.g. data/prepared)")
    d.add_argument("--split", default="val", help="the split of the prepared data (default: val)")
    d.add_argument("--out", help="the folder to write (default: diff-<rung A>-vs-<rung B>)")
    d.add_argument("--force", action="store_true", help="replace an earlier diff's folder (never any other folder)")
    d.add_argument("--batch-size", type=int, default=32)
    d.set_defaults(func=cmd_diff)
