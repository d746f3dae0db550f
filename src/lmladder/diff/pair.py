"""The diff of two models of one prepared corpus on one of its splits: what the evaluate stage writes for the top
rung against the one below it (outputs/reports/diff/)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..data.prepared import Prepared
from ..inference.tokens import token_scores
from ..insight.page import label
from .align import DiffError, Side, align, check_possible
from .page import write_diff, write_note


def diff_on_split(out: str | Path, a: tuple[str, object], b: tuple[str, object], data: Prepared, *,
                  split: str = "val", what: str) -> Path:  # fmt: skip
    """Score `a` and `b` ((label, model) each, both on `data`'s vocabulary) on `split` and write the diff page into
    `out` (replaced if it exists); a side that holds a token of the split impossible gets a page that says so
    instead (align.check_possible). Returns index.html's path."""
    ids = np.asarray(data.splits[split])
    sides = [
        Side(name, lab, model.rung, data.tokenizer, ids, token_scores(model, ids, boundary_id=data.boundary_id))
        for name, (lab, model) in (("A", a), ("B", b))
    ]
    try:
        for side in sides:
            check_possible(side, what)
    except DiffError as e:  # a rung that holds some token of the split impossible: the page says so
        return write_note(out, str(e))
    al = align(*sides, lines=data.kind == "lines")
    names = dict.fromkeys(("A", "B"), lambda i: label(data.tokenizer, i))
    return write_diff(out, *sides, al, labels=names, what=what, force=True)
