"""The diff as files: index.html (self-contained: the text, the tables and a small script that colours the text and
shows each character's details on hover, all in one file), chars.csv, spans.csv, classes.csv and summary.json."""

from __future__ import annotations

import html
import json
from pathlib import Path

import numpy as np
import pandas as pd

from ..io import atomic_directory, path_kind
from ..progress import progress_bar
from .align import Aligned, DiffError, Side
from .stats import SPAN_CHARS, class_table, summary, top_spans

BUCKETS = 21  # colour steps of the diverging scale, the middle one white
CLAMP_QUANTILE = 0.98  # the scale ends at this quantile of |gain| (so a few extreme characters do not wash it out)
# Peak memory of a diff beyond its models and the text it read: per character of the text (lined-up arrays, the
# class table's masks, the spans' sums), plus per token of each side (its ids and scores, what the page is written
# from). Measured as the slope of peak RSS between two lengths: 152 bytes per character with one character token
# per character and side, 435 with 2.5 byte tokens per character (a CJK text); these bound both.
BYTES_PER_CHAR = 100
BYTES_PER_TOKEN = 72
JSON_CHUNK = 1 << 16  # numbers of an array the page's data is written in at a time
CSV_CHUNK = 1 << 16  # rows of chars.csv written at a time
_SCRIPT = (Path(__file__).parent / "page.js").read_text(encoding="utf-8")


def _colours() -> list[str]:
    from matplotlib import colormaps  # RdBu: red where B loses, blue where it gains

    cmap = colormaps["RdBu"]
    from matplotlib.colors import to_hex

    return [to_hex(cmap(i / (BUCKETS - 1))) for i in range(BUCKETS)]


def _side_data(side: Side, al: Aligned, labels) -> dict:
    """One side's part of the page's data; its arrays stay NumPy arrays until `_write_json` writes them."""
    s, tok_of = side.scores, al.token_of[side.name]
    V = side.tokenizer.vocab_size
    used = np.flatnonzero(np.bincount(s.top_ids.ravel(), minlength=V) + np.bincount(side.ids, minlength=V))
    identity = np.array_equal(tok_of, np.arange(len(tok_of)) - 1)
    return {
        "label": side.label,
        "rung": side.rung,
        "tokenizer": side.tokenizer.name,
        "tok_of": None if identity else tok_of,  # None: one character per token, token i = character i+1
        "target": side.ids[1:],
        "nll": _Rounded(s.nll, 3),
        "top": s.top_ids.ravel(),
        "top_pct": _Rounded(s.top_p.reshape(-1), 1, scale=100.0),
        "k": s.top_ids.shape[1],
        "vocab": {int(i): labels(int(i)) for i in used},
    }


class _Rounded:
    """An array written times `scale`, rounded to `decimals` (the page shows 3 digits of an NLL, 1 of a
    percentage)."""

    def __init__(self, values: np.ndarray, decimals: int, scale: float = 1.0):
        self.values, self.decimals, self.scale = values, decimals, scale


def _script_safe(text: str) -> str:
    """JSON text that cannot leave a <script> element's data: no '<' (which opens every escape state of HTML's
    script data: </script, <!--, <script), '>' or '&', each written as its \\u escape, which JSON.parse reads
    back as the same character. json.dumps' ensure_ascii already writes U+2028 and U+2029 as escapes."""
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _write_json(write, value, bar) -> None:
    """`value` (dicts with keys that are strings or ints, NumPy arrays, `_Rounded`, JSON scalars and strings) as
    script-safe JSON, piece by piece: an array JSON_CHUNK numbers at a time, so a long text never becomes one
    list of Python numbers (about 30 bytes each) nor one string of the whole page. `bar` counts the chunks."""
    if isinstance(value, dict):
        write("{")
        for i, (k, v) in enumerate(value.items()):
            write(("," if i else "") + _script_safe(json.dumps(str(k), separators=(",", ":"))) + ":")
            _write_json(write, v, bar)
        write("}")
    elif isinstance(value, np.ndarray | _Rounded):
        rounded = value if isinstance(value, _Rounded) else None
        values = value.values if rounded else value
        write("[")
        for a in range(0, len(values), JSON_CHUNK):
            part = values[a : a + JSON_CHUNK]
            part = np.round(rounded.scale * part.astype(np.float64), rounded.decimals) if rounded else part.astype(int)
            write(("," if a else "") + json.dumps(part.tolist(), separators=(",", ":"), allow_nan=False)[1:-1])
            bar.update()
        write("]")
    else:
        write(_script_safe(json.dumps(value, separators=(",", ":"), allow_nan=False)))


def _chunks(value) -> int:
    """How many chunks `_write_json` writes `value`'s arrays in."""
    if isinstance(value, dict):
        return sum(_chunks(v) for v in value.values())
    if isinstance(value, np.ndarray | _Rounded):
        return -(-len(value.values if isinstance(value, _Rounded) else value) // JSON_CHUNK)
    return 0


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


def _write_chars(f, al: Aligned, bar) -> None:
    """chars.csv, CSV_CHUNK characters at a time (each a step of `bar`): one row per character (its class, unit,
    both NLL shares)."""
    gain = al.gain
    for a in range(0, len(al.text), CSV_CHUNK):
        b = min(a + CSV_CHUNK, len(al.text))
        scored = al.scored[a:b]
        part = pd.DataFrame(
            {"char": list(al.text[a:b]), "class": np.asarray(al.class_names)[al.classes[a:b]], "unit": al.unit[a:b],
             "nll_A": al.nll["A"][a:b], "nll_B": al.nll["B"][a:b], "gain": np.where(scored, gain[a:b], np.nan)},
            index=pd.RangeIndex(a, b),
        )  # fmt: skip
        part.to_csv(f, index_label="i", header=a == 0)
        bar.update()


def write_diff(
    out: str | Path, a: Side, b: Side, al: Aligned, *, labels, what: str, force: bool = False, progress: bool = False
) -> Path:
    """Write the diff of `a` and `b` (lined up as `al`) on the text `what` names into the folder `out`; `labels`
    (side name -> function of a token id) names tokens. An existing `out` is replaced only with `force`.
    `progress`: a bar on stderr over its parts (each class's bootstrap, the page's and chars.csv's chunks). Returns
    index.html's path."""
    out = Path(out)
    if path_kind(out) != "missing" and not force:
        raise DiffError(f"{out} exists; give another --out, or --force to replace it")
    gain = al.gain
    scale = float(np.quantile(np.abs(gain[al.scored]), CLAMP_QUANTILE)) if al.scored.any() else 1.0
    clamp = max(round(scale, 1), 0.1)
    data = {"text": al.text, "clamp": clamp, "colours": _colours(), "scored": al.scored.astype(np.int8),
            "sides": {s.name: _side_data(s, al, labels[s.name]) for s in (a, b)}}  # fmt: skip
    steps = len(np.unique(al.classes[al.scored])) + 1 + _chunks(data) + -(-len(al.text) // CSV_CHUNK)
    bar = progress_bar(steps, enabled=progress, unit="part")
    classes, spans, totals = class_table(al, step=bar.update), _spans_frame(al), summary(al)
    meta = {"what": what, **totals, "A": {"label": a.label, "rung": a.rung, "tokenizer": a.tokenizer.name},
            "B": {"label": b.label, "rung": b.rung, "tokenizer": b.tokenizer.name}, "clamp_nats": clamp}  # fmt: skip
    with atomic_directory(out) as tmp, bar:
        before, after = _page(a, b, what, totals, classes, spans)
        with open(tmp / "index.html", "w", encoding="utf-8") as f:
            f.write(before)
            _write_json(f.write, data, bar)
            f.write(after)
        with open(tmp / "chars.csv", "w", encoding="utf-8", newline="") as f:
            _write_chars(f, al, bar)
        (tmp / "spans.csv").write_text(spans.to_csv(index=False), encoding="utf-8")
        (tmp / "classes.csv").write_text(classes.to_csv(index=False), encoding="utf-8")
        (tmp / "summary.json").write_text(json.dumps(meta, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    return out / "index.html"


def _judged(row) -> tuple[str, str]:
    """The page's gain cell ("+0.1234 [+0.1000, +0.1500]") and p cell of a class_table row."""
    if row.note:  # too few units: no interval, no p
        return f"{row.gain:+.4f} ({row.note})", "—"
    p = "< 0.0001" if row.p < 1e-4 else f"{row.p:.4f}"
    return f"{row.gain:+.4f} [{row.gain_lo:+.4f}, {row.gain_hi:+.4f}]", p


def _page(a: Side, b: Side, what: str, totals: dict, classes, spans) -> tuple[str, str]:
    """The page before and after its data (the JSON `_write_json` writes between them)."""
    e = html.escape
    judged = [_judged(row) for row in classes.itertuples()]
    show = pd.DataFrame({
        "class": classes["class"], "characters": classes["chars"].map("{:,}".format),
        "NLL A": classes["nll_A"].map("{:.4f}".format), "NLL B": classes["nll_B"].map("{:.4f}".format),
        "gain A − B [95%]": [g for g, _ in judged], "p": [p for _, p in judged],
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
    return (
        f"<!doctype html><html lang='en'><meta charset='utf-8'><title>lmladder diff: {e(a.rung)} vs {e(b.rung)}"
        f"</title><style>{style}</style><body>{head}{legend}{tables}<h2>The text</h2><div id='text'></div>"
        "<div id='tip'></div><script id='data' type='application/json'>",
        f"</script><script>{_SCRIPT}</script></body></html>\n",
    )


def write_note(out: str | Path, why: str) -> Path:
    """A page in place of a diff that cannot be drawn (a pipeline of one rung), so the folder a pipeline declares
    always exists. Returns index.html's path."""
    with atomic_directory(out) as tmp:
        head = "<!doctype html><meta charset='utf-8'><title>lmladder diff</title><h1>lmladder diff</h1>"
        body = f"{head}<p>{html.escape(why)}</p>\n"
        (tmp / "index.html").write_text(body, encoding="utf-8")
    return Path(out) / "index.html"
