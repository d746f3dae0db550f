"""The diff as files: index.html (self-contained: the text, the tables and a small script that colours the text and
shows each character's details on hover, all in one file), chars.csv, spans.csv, classes.csv and summary.json."""

from __future__ import annotations

import html
import json
from pathlib import Path

import numpy as np
import pandas as pd

from ..io import atomic_directory, path_kind
from .align import Aligned, DiffError, Side
from .stats import SPAN_CHARS, class_table, summary, top_spans

BUCKETS = 21  # colour steps of the diverging scale, the middle one white
CLAMP_QUANTILE = 0.98  # the scale ends at this quantile of |gain| (so a few extreme characters do not wash it out)
_SCRIPT = (Path(__file__).parent / "page.js").read_text(encoding="utf-8")


def _colours() -> list[str]:
    from matplotlib import colormaps  # RdBu: red where B loses, blue where it gains

    cmap = colormaps["RdBu"]
    from matplotlib.colors import to_hex

    return [to_hex(cmap(i / (BUCKETS - 1))) for i in range(BUCKETS)]


def _side_data(side: Side, al: Aligned, labels) -> dict:
    s, tok_of = side.scores, al.token_of[side.name]
    used = np.unique(np.concatenate([s.top_ids.ravel(), side.ids]))
    identity = np.array_equal(tok_of, np.arange(len(tok_of)) - 1)
    return {
        "label": side.label,
        "rung": side.rung,
        "tokenizer": side.tokenizer.name,
        "tok_of": None if identity else tok_of.tolist(),  # None: one character per token, token i = character i+1
        "target": side.ids[1:].tolist(),
        "nll": np.round(s.nll, 3).tolist(),
        "top": s.top_ids.ravel().tolist(),
        "top_pct": np.round(100 * s.top_p.ravel(), 1).tolist(),
        "k": s.top_ids.shape[1],
        "vocab": {int(i): labels(int(i)) for i in used},
    }


def _table(df: pd.DataFrame, cls: str = "") -> str:
    return df.to_html(index=False, border=0, classes=cls, float_format=lambda v: f"{v:+.4f}", escape=True)


def _spans_frame(al: Aligned) -> pd.DataFrame:
    gains, losses = top_spans(al.gain)
    rows = []
    for kind, found in (("gain", gains), ("loss", losses)):
        for rank, (start, total) in enumerate(found, 1):
            end = min(start + SPAN_CHARS, len(al.text))
            rows.append({"kind": kind, "rank": rank, "start": start, "end": end, "gain_nats": total,
                         "text": al.text[start:end]})  # fmt: skip
    return pd.DataFrame(rows, columns=["kind", "rank", "start", "end", "gain_nats", "text"])


def write_diff(out: str | Path, a: Side, b: Side, al: Aligned, *, labels, what: str, force: bool = False) -> Path:
    """Write the diff of `a` and `b` (lined up as `al`) on the text `what` names into the folder `out`; `labels`
    (side name -> function of a token id) names tokens. An existing `out` is replaced only with `force`. Returns
    index.html's path."""
    out = Path(out)
    if path_kind(out) != "missing" and not force:
        raise DiffError(f"{out} exists; give another --out, or --force to replace it")
    gain = al.gain
    scale = float(np.quantile(np.abs(gain[al.scored]), CLAMP_QUANTILE)) if al.scored.any() else 1.0
    clamp = max(round(scale, 1), 0.1)
    classes, spans, totals = class_table(al), _spans_frame(al), summary(al)
    per_char = {"char": list(al.text), "class": al.classes, "unit": al.unit, "nll_A": al.nll["A"],
                "nll_B": al.nll["B"], "gain": np.where(al.scored, gain, np.nan)}  # fmt: skip
    chars = pd.DataFrame(per_char)
    data = {"text": al.text, "clamp": clamp, "colours": _colours(), "scored": al.scored.astype(int).tolist(),
            "sides": {s.name: _side_data(s, al, labels[s.name]) for s in (a, b)}}  # fmt: skip
    meta = {"what": what, **totals, "A": {"label": a.label, "rung": a.rung, "tokenizer": a.tokenizer.name},
            "B": {"label": b.label, "rung": b.rung, "tokenizer": b.tokenizer.name}, "clamp_nats": clamp}  # fmt: skip
    with atomic_directory(out) as tmp:
        (tmp / "index.html").write_text(_page(a, b, what, totals, classes, spans, data), encoding="utf-8")
        (tmp / "chars.csv").write_text(chars.to_csv(index_label="i"), encoding="utf-8")
        (tmp / "spans.csv").write_text(spans.to_csv(index=False), encoding="utf-8")
        (tmp / "classes.csv").write_text(classes.to_csv(index=False), encoding="utf-8")
        (tmp / "summary.json").write_text(json.dumps(meta, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    return out / "index.html"


def _page(a: Side, b: Side, what: str, totals: dict, classes, spans, data) -> str:
    e = html.escape
    show = pd.DataFrame({
        "class": classes["class"], "characters": classes["chars"].map("{:,}".format),
        "NLL A": classes["nll_A"].map("{:.4f}".format), "NLL B": classes["nll_B"].map("{:.4f}".format),
        "gain A − B [95%]": [f"{g:+.4f} [{lo:+.4f}, {hi:+.4f}]" for g, lo, hi in
                             zip(classes["gain"], classes["gain_lo"], classes["gain_hi"], strict=True)],
        "p": classes["p"].map(lambda v: "< 0.0001" if v < 1e-4 else f"{v:.4f}"),
    })  # fmt: skip
    span_rows = {k: spans[spans.kind == k].drop(columns="kind") for k in ("gain", "loss")}
    for df in span_rows.values():
        df["text"] = df["text"].str.replace("\n", "⏎")
    head = (
        f"<h1>lmladder diff</h1><p><b>A</b>: {e(a.rung)} ({e(a.label)}, {e(a.tokenizer.name)} tokens) &nbsp; "
        f"<b>B</b>: {e(b.rung)} ({e(b.label)}, {e(b.tokenizer.name)} tokens)<br>on {e(what)}: "
        f"{totals['chars']:,} characters; A {totals['bpc_A']:.4f}, B {totals['bpc_B']:.4f} bits per character "
        f"(B gains {totals['gain_bpc']:+.4f})</p>"
    )
    legend = (
        "<div id='legend'></div><p class='note'>Each character is coloured by NLL<sub>A</sub> − NLL<sub>B</sub> "
        "(nats; a token's NLL is spread over its characters): blue where B predicts it better, red where A does. "
        "Hover a character for both models' probabilities and top predictions; click a span below to jump.</p>"
    )
    tables = (
        "<h2>By class of character</h2><p class='note'>Mean NLL per character; the gain's 95% interval and p-value "
        "are the paired bootstrap over documents (names) or 1,000-character blocks.</p>" + _table(show) +
        f"<h2>Where B gains most ({SPAN_CHARS}-character spans)</h2>" + _table(span_rows["gain"], "spans") +
        "<h2>Where B loses most</h2>" + _table(span_rows["loss"], "spans")
    )  # fmt: skip
    style = (
        "body{font-family:sans-serif;max-width:1100px;margin:auto}table{border-collapse:collapse;font-size:13px}"
        "td,th{padding:2px 8px;text-align:right}#text{font-family:monospace;white-space:pre-wrap;line-height:1.5;"
        "border:1px solid #ccc;padding:8px}#tip{position:fixed;display:none;background:#fff;border:1px solid #888;"
        "padding:6px;font:12px monospace;pointer-events:none;white-space:pre}.note{color:#555;font-size:13px}"
        "#legend{display:flex;width:420px;height:16px}table.spans td:last-child{font-family:monospace;"
        "text-align:left;white-space:pre}.flash{outline:2px solid #000}"
    )
    blob = json.dumps(data, separators=(",", ":"), allow_nan=False).replace("</", "<\\/")
    return (
        f"<!doctype html><html lang='en'><meta charset='utf-8'><title>lmladder diff: {e(a.rung)} vs {e(b.rung)}"
        f"</title><style>{style}</style><body>{head}{legend}{tables}<h2>The text</h2><div id='text'></div>"
        f"<div id='tip'></div><script id='data' type='application/json'>{blob}</script><script>{_SCRIPT}</script>"
        "</body></html>\n"
    )


def write_note(out: str | Path, why: str) -> Path:
    """A page in place of a diff that cannot be drawn (a pipeline of one rung), so the folder a pipeline declares
    always exists. Returns index.html's path."""
    with atomic_directory(out) as tmp:
        head = "<!doctype html><meta charset='utf-8'><title>lmladder diff</title><h1>lmladder diff</h1>"
        body = f"{head}<p>{html.escape(why)}</p>\n"
        (tmp / "index.html").write_text(body, encoding="utf-8")
    return Path(out) / "index.html"
