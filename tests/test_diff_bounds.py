"""`lmladder diff` on hostile and long texts (issue 70): the page's data stays inside its <script> element whatever
the text holds (HTML's script data states, tests/script_data.py), a class seen in fewer units than `compare` judges
gets no interval, a model that holds a token impossible is refused as `evaluate` refuses it, and --max-chars cuts
both sides at one text, as much of it as the memory check says fits."""

import json
import re

import numpy as np
import pandas as pd
import pytest

from lmladder import cli
from lmladder.checkpoints import save_training_checkpoint
from lmladder.data import load_prepared, load_text, prepare_corpus
from lmladder.diff.pair import diff_on_split
from lmladder.inference.scoring import score_tokens
from lmladder.models import for_data, rung_class
from lmladder.training import make_rngs

from .script_data import script_end
from .shared_data import shared_file

DATA_OPEN = "<script id='data' type='application/json'>"
# every way into HTML's script-data escape states and the characters JSON or JavaScript treat apart, ending in the
# double-escaped state (`<!--<script>` with no `-->` after it: what broke the page)
HOSTILE = (
    "<!--<script> a </script> b <script> c --> & d ]]> e \u2028 f \u2029 g </SCRIPT x> <!-- h --!> <\\/ "
    "<!--<script> i\n"
)


def ngram(data, order: int, k: float = 0.1):
    cls = rung_class("bigram")
    model = cls(for_data(cls.Config(order=order, smoothing="add_k", k=k), data), rng=np.random.default_rng(0))
    model.fit(np.asarray(data.splits["train"]))
    return model


def checkpoints(tmp_path, text: str | bytes, tokenizer: str = "char", kind: str = "stream", orders=(2, 3), k=0.1):
    """Count models of `orders` fitted on `text`, saved as checkpoints; returns their paths and the data."""
    prepare_corpus(text, kind=kind, tokenizer=tokenizer, out_dir=tmp_path / f"prep_{tokenizer}")
    data = load_prepared(tmp_path / f"prep_{tokenizer}")
    paths = []
    for order in orders:
        paths.append(tmp_path / f"{tokenizer}{order}.safetensors")
        save_training_checkpoint(paths[-1], ngram(data, order, k), data.tokenizer, rngs=make_rngs(0))
    return paths, data


def diff(tmp_path, a, b, text_file, *extra, out="diff"):
    return cli.main(["diff", str(a), str(b), "--text", str(text_file), "--out", str(tmp_path / out), *extra])


@pytest.mark.parametrize(
    "page, end",
    [
        ("<script>abc</script>", 11),
        ("<script>a<!--b</script>", 14),
        ("<script>a<!--<script>b</script>c</script>", 32),  # double-escaped: the first </script> is text
        ("<script>a<!--<script>b--></script>", 25),
        ("<script>a<!--<SCRIPT/></script>x</script>", 32),
        ("<script>a<!--<scripts></script>", 22),
        ("<script>a<!</script>", 11),
        ("<script>a<!--<script>b</script>", None),  # never ends: the page's data swallows what follows
    ],
)
def test_script_end_follows_htmls_script_data_states(page, end):
    assert script_end(page, len("<script>")) == end


def test_the_page_data_survives_every_script_data_state(tmp_path):
    """A text that opens a comment and a script inside the page's JSON once put the data block into the
    double-escaped state: it never closed, swallowed page.js, and the page showed nothing."""
    speech = load_text("file", path=shared_file("tinyshakespeare.txt"))[:3000]
    text = speech + HOSTILE * 3 + speech[:500]
    (a, b), _ = checkpoints(tmp_path, text)
    (tmp_path / "hostile.txt").write_text(text, encoding="utf-8")
    assert diff(tmp_path, a, b, tmp_path / "hostile.txt") == 0
    page = (tmp_path / "diff" / "index.html").read_text(encoding="utf-8")
    start = page.index(DATA_OPEN) + len(DATA_OPEN)
    end = script_end(page, start)
    assert end is not None and page.startswith("</script><script>", end), "the data block does not end where it should"
    blob = page[start:end]
    assert not set("<>&\u2028\u2029") & set(blob)  # nothing left that any script-data state reads
    data = json.loads(blob)
    assert data["text"] == text and len(data["scored"]) == len(text)
    script = end + len("</script><script>")
    assert script_end(page, script) == page.rindex("</script>")  # page.js ends where it should too


def test_a_class_in_fewer_units_than_compare_judges_gets_no_interval(tmp_path):
    """One 1,000-character block: one unit. It printed a zero-width interval and p < 0.0001 for every class."""
    speech = load_text("file", path=shared_file("tinyshakespeare.txt"))[:20_000]
    (a, b), _ = checkpoints(tmp_path, speech)
    (tmp_path / "short.txt").write_text(speech[:900], encoding="utf-8")
    assert diff(tmp_path, a, b, tmp_path / "short.txt") == 0
    classes = pd.read_csv(tmp_path / "diff" / "classes.csv", keep_default_na=False, na_values=[""])
    assert (classes.units == 1).all()
    assert classes[["gain_lo", "gain_hi", "p"]].isna().all().all()
    assert (classes.note == "too few units (1 < 20)").all() and classes.gain.notna().all()
    page = (tmp_path / "diff" / "index.html").read_text(encoding="utf-8")
    assert "too few units (1 &lt; 20)" in page and "&lt; 0.0001" not in page
    (tmp_path / "long.txt").write_text(speech[-19_000:], encoding="utf-8")  # 19 blocks: still too few; 20 judged
    assert diff(tmp_path, a, b, tmp_path / "long.txt", out="long") == 0
    every = pd.read_csv(tmp_path / "long" / "classes.csv").set_index("class").loc["all"]
    assert every.units == 19 and np.isnan(every.p)


def test_the_pipelines_diff_says_why_when_a_rung_holds_a_token_impossible(tmp_path):
    text = "\n".join(load_text("file", path=shared_file("names.txt")).splitlines()[:400])
    prepare_corpus(text, kind="lines", tokenizer="char", out_dir=tmp_path / "prep")
    data = load_prepared(tmp_path / "prep")
    a, b = ngram(data, 2), ngram(data, 3, k=0.0)
    impossible = score_tokens(b, data.splits["val"], boundary_id=data.boundary_id)["impossible_tokens"]
    page = diff_on_split(tmp_path / "diff", ("a", a), ("b", b), data, what="the val split")
    note = page.read_text(encoding="utf-8")
    assert f"gives {impossible} tokens of the val split zero probability" in note
    assert "use a smoothed model (k &gt; 0)" in note


def test_max_chars_cuts_two_tokenizers_at_one_text(tmp_path):
    """Characters against bytes on a text with accents (two bytes each): both sides end at one character."""
    speech = load_text("file", path=shared_file("tinyshakespeare.txt"))[:20_000].replace("e ", "é ")
    (a,), _ = checkpoints(tmp_path, speech, "char", orders=(2,))
    (b,), _ = checkpoints(tmp_path, speech.encode(), "byte", orders=(3,))
    (tmp_path / "t.txt").write_text(speech, encoding="utf-8")
    assert diff(tmp_path, a, b, tmp_path / "t.txt", "--max-chars", "5001") == 0
    chars = pd.read_csv(tmp_path / "diff" / "chars.csv", keep_default_na=False, na_values=[""])
    assert "".join(chars["char"]) == speech[:5001]
    summary = json.loads((tmp_path / "diff" / "summary.json").read_text())
    assert summary["chars"] == 5000  # the first character is context only


def test_max_chars_keeps_whole_documents(tmp_path):
    names = load_text("file", path=shared_file("names.txt")).splitlines()[:400]
    (a, b), _ = checkpoints(tmp_path, "\n".join(names), kind="lines")
    (tmp_path / "names.txt").write_text("\n".join(names[:50]) + "\n", encoding="utf-8")
    assert diff(tmp_path, a, b, tmp_path / "names.txt", "--max-chars", "100") == 0
    chars = pd.read_csv(tmp_path / "diff" / "chars.csv", keep_default_na=False, na_values=[""])
    text = "".join(chars["char"])
    kept = text.strip("\n").split("\n")
    assert kept == names[: len(kept)] and len(text) <= 100 and text.endswith("\n")
    assert len(text) + len(names[len(kept)]) + 1 > 100  # the next name would not have fitted


def test_the_max_chars_the_memory_check_names_fits(tmp_path, monkeypatch, capsys):
    speech = load_text("file", path=shared_file("tinyshakespeare.txt"))[:20_000]
    (a, b), _ = checkpoints(tmp_path, speech.encode(), "byte")
    (tmp_path / "big.txt").write_text(speech * 15, encoding="utf-8")  # 300,000 characters
    monkeypatch.setenv("LMLADDER_MEMORY_LIMIT", "60M")
    assert diff(tmp_path, a, b, tmp_path / "big.txt") == 2
    err = capsys.readouterr().err
    fit = int(re.search(r"--max-chars ([\d,]+) fits", err).group(1).replace(",", ""))
    assert 10_000 < fit < 300_000, err
    assert diff(tmp_path, a, b, tmp_path / "big.txt", "--max-chars", str(fit)) == 0
    more = str(int(fit * 1.25))  # past the margin
    assert diff(tmp_path, a, b, tmp_path / "big.txt", "--max-chars", more, out="more") == 2
