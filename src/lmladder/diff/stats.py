"""The numbers of a diff: the spans where B gains or loses most (LMdiff's ranked passages) and the difference per
class of character with its paired bootstrap interval over documents or 1,000-character blocks
(reports/significance.py: the same resampling as `lmladder compare`)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..reports import significance as sig
from .align import KINDS, Aligned

SPAN_CHARS = 40  # the length of a ranked span
TOP_SPANS = 10


def top_spans(gain: np.ndarray, *, length: int = SPAN_CHARS, top: int = TOP_SPANS) -> tuple[list, list]:
    """([(start, summed gain)], [...]) of the `top` spans of `length` characters, that do not overlap, where B gains
    most (largest summed NLL_A − NLL_B) and where it loses most (smallest), best first."""
    L = max(1, min(length, len(gain)))
    sums = np.convolve(gain, np.ones(L), mode="valid")  # (C - L + 1,) summed gain of the span starting at each char
    return _greedy(sums, L, top), _greedy(-sums, L, top, sign=-1.0)


def _greedy(sums: np.ndarray, L: int, top: int, sign: float = 1.0) -> list[tuple[int, float]]:
    taken = np.zeros(len(sums) + L, dtype=bool)
    out = []
    for s in np.argsort(-sums, kind="stable"):
        if len(out) == top or sums[s] <= 0:
            break
        if not taken[s : s + L].any():
            taken[s : s + L] = True
            out.append((int(s), float(sign * sums[s])))
    return out


def class_table(al: Aligned, *, resamples: int = sig.RESAMPLES, step=None) -> pd.DataFrame:
    """Per class of character (and "all"): characters, mean NLL of A and B (nats per character), the gain A − B
    with its 95% paired bootstrap interval over units and the two-sided p-value; none (NaN) for a class in fewer
    units than `lmladder compare` judges (significance.too_few: one unit gave a zero-width interval and p = 0).
    `step`, if given, is called after each row (a progress bar's update)."""
    rows = []
    U = int(al.unit.max()) + 1 if len(al.unit) else 0
    present = sorted((al.class_names[c] for c in np.unique(al.classes[al.scored])), key=_order)
    for name in ["all", *present]:
        m = al.scored & ((al.classes == al.class_names.index(name)) if name != "all" else True)
        n = np.bincount(al.unit[m], minlength=U).astype(np.float64)  # (U,) characters of the class per unit
        side = {k: np.bincount(al.unit[m], weights=al.nll[k][m], minlength=U) for k in ("A", "B")}  # (U,) NLL sums
        pa, pb = (np.stack([side[k], n, n], axis=1)[n > 0] for k in ("A", "B"))  # (U', 3): significance.pool's form
        few = sig.too_few(len(pa))
        res = sig.paired(pa, pb, resamples=resamples)  # B − A
        lo, hi, p = (math.nan,) * 3 if few else (-res["nll_hi"], -res["nll_lo"], res["nll_p"])
        rows.append({"class": name, "chars": int(n.sum()), "nll_A": pa[:, 0].sum() / n.sum(),
                     "nll_B": pb[:, 0].sum() / n.sum(), "gain": -res["nll_delta"], "gain_lo": lo, "gain_hi": hi,
                     "p": p, "units": len(pa), "note": few or ""})  # fmt: skip
        if step is not None:
            step()
    return pd.DataFrame(rows)


_ORDER = ["all", *KINDS, "end"]


def _order(name: str) -> tuple:
    return (_ORDER.index(name), "") if name in _ORDER else (1, name)


def summary(al: Aligned) -> dict:
    """Totals over the characters both sides score: NLL (nats) and bits per character of A and B."""
    m = al.scored
    n = int(m.sum())
    out = {"chars": n}
    for k in ("A", "B"):
        total = float(al.nll[k][m].sum())
        out |= {f"nll_{k}": total, f"bpc_{k}": total / math.log(2) / max(n, 1)}
    out["gain_bpc"] = out["bpc_A"] - out["bpc_B"]
    return out
