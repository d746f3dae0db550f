"""`lmladder diff` (lmladder/diff) and single runs in `lmladder compare`: the per-character NLLs add up to each
model's exact total (one tokenizer or two), the page and its CSV/JSON are written from them, and two run folders
compare as one row with the paired interval."""

import json

import numpy as np
import pandas as pd
import pytest

from lmladder import cli
from lmladder.checkpoints import save_training_checkpoint
from lmladder.data import load_prepared, load_text, prepare_corpus
from lmladder.diff import Side, align, write_diff
from lmladder.diff.stats import class_table, top_spans
from lmladder.inference.scoring import score_tokens
from lmladder.inference.tokens import token_scores
from lmladder.models import for_data, rung_class
from lmladder.training import make_rngs
from tests.ladder import small_config, tiny_gpt_run

from .shared_data import shared_file


def bigram(data):
    cls = rung_class("bigram")
    model = cls(for_data(cls.Config(), data), rng=np.random.default_rng(0))
    model.fit(np.asarray(data.splits["train"]))
    return model


def gpt(data):
    return rung_class("transformer")(
        small_config("transformer", data.vocab_size, block_size=16), rng=np.random.default_rng(0)
    )


def side(name, model, data, ids=None):
    ids = np.asarray(data.splits["val"] if ids is None else ids)
    return Side(name, name, model.rung, data.tokenizer, ids, token_scores(model, ids, boundary_id=data.boundary_id))


@pytest.fixture(scope="module")
def names(tmp_path_factory):
    text = "\n".join(load_text("file", path=shared_file("names.txt")).splitlines()[:400])
    out = tmp_path_factory.mktemp("diff_names") / "prepared"
    prepare_corpus(text, kind="lines", tokenizer="char", out_dir=out)
    return out, load_prepared(out)


def test_characters_add_up_to_each_models_exact_total(names):
    _, data = names
    a, b = bigram(data), gpt(data)
    al = align(side("A", a, data), side("B", b, data), lines=True)
    for k, model in (("A", a), ("B", b)):
        exact = score_tokens(model, data.splits["val"], boundary_id=data.boundary_id)
        assert al.scored.sum() == exact["tokens"]  # names: one character per token, the first newline is context
        assert al.nll[k][al.scored].sum() == pytest.approx(exact["nll"] * exact["tokens"], rel=1e-6)
    table = class_table(al, resamples=500)
    every = table.set_index("class").loc["all"]
    assert every.gain == pytest.approx(al.gain.sum() / al.scored.sum(), rel=1e-9)
    assert every.gain_lo <= every.gain <= every.gain_hi
    parts = table[table["class"] != "all"]
    assert set(parts["class"]) == {"1st", "2nd", "3rd", "4th", "5th", "6th+", "end"}
    assert parts.chars.sum() == every.chars  # the classes cut the characters into parts


@pytest.mark.parametrize("other", ["bpe", "byte"])
def test_two_tokenizers_line_up_on_characters(other, tmp_path):
    """Characters against BPE, and against bytes on a text with accents (a byte inside a character adds none:
    its NLL counts at the byte that completes the character)."""
    text = load_text("file", path=shared_file("tinyshakespeare.txt"))[:30_000].replace("e ", "é ").replace("o", "ö")
    data = {}
    for tok, extra in (("char", {}), (other, {"vocab_size": 300} if other == "bpe" else {})):
        prepare_corpus(text, kind="stream", tokenizer=tok, out_dir=tmp_path / tok, **extra)
        data[tok] = load_prepared(tmp_path / tok)
    a, b = bigram(data["char"]), bigram(data[other])
    al = align(side("A", a, data["char"]), side("B", b, data[other]), lines=False)
    for k, model, d in (("A", a, data["char"]), ("B", b, data[other])):
        exact = score_tokens(model, d.splits["val"], boundary_id=None)
        inside = ~np.isnan(al.nll[k])
        assert al.nll[k][inside].sum() == pytest.approx(exact["nll"] * exact["tokens"], rel=1e-6)
    assert al.scored.sum() == len(al.text) - max((al.token_of["B"] < 0).sum(), 1)  # BPE's first token: context


def test_spans_do_not_overlap_and_rank_by_their_sum():
    gain = np.zeros(200)
    gain[10:20], gain[100:105], gain[150:160] = 1.0, 3.0, -2.0
    gains, losses = top_spans(gain, length=10, top=5)
    assert gains[0][1] == 15.0 and 95 <= gains[0][0] <= 100
    starts = [s for s, _ in gains]
    assert all(abs(x - y) >= 10 for i, x in enumerate(starts) for y in starts[i + 1 :])
    assert losses[0] == (150, -20.0) and all(t > 0 for _, t in gains)


def test_cli_diff_writes_the_page_and_its_numbers(names, tmp_path):
    path, data = names
    paths = {}
    for name, model in (("a", bigram(data)), ("b", gpt(data))):
        paths[name] = tmp_path / f"{name}.safetensors"
        save_training_checkpoint(paths[name], model, data.tokenizer, rngs=make_rngs(0))
    out = tmp_path / "diff"
    args = ["diff", str(paths["a"]), str(paths["b"]), "--data", str(path), "--out", str(out)]
    assert cli.main(args) == 0
    page = (out / "index.html").read_text(encoding="utf-8")
    assert page.count("<script") == 2 and "lmladder diff" in page and "Where B gains most" in page
    summary = json.loads((out / "summary.json").read_text())
    exact = score_tokens(bigram(data), data.splits["val"], boundary_id=data.boundary_id)
    assert summary["bpc_A"] == pytest.approx(exact["bpc"], rel=1e-6)
    chars = pd.read_csv(out / "chars.csv", keep_default_na=False, na_values=[""])
    assert len(chars) == len(data.tokenizer.decode(np.asarray(data.splits["val"])))
    assert pd.read_csv(out / "spans.csv").kind.isin(["gain", "loss"]).all()
    assert cli.main(args) == 2  # the folder exists now: refused, left as it was
    assert (out / "index.html").read_text(encoding="utf-8") == page
    assert cli.main([*args, "--force"]) == 0


def test_two_single_runs_compare_as_one_row(tmp_path, capsys):
    text = "\n".join(load_text("file", path=shared_file("names.txt")).splitlines()[:500])
    runs = [tiny_gpt_run(tmp_path / name, text, block_size=16, max_iters=it, kind="lines", tokenizer="char")[0]
            for name, it in (("short", 4), ("long", 40))]  # fmt: skip
    assert cli.main(["compare", str(runs[0]), str(runs[1] / "model.safetensors"), "--out", str(tmp_path / "c")]) == 0
    paired = pd.read_csv(tmp_path / "c" / "compare_paired.csv")
    assert len(paired) == 1 and paired.setting[0] == "transformer (run vs run)"
    assert paired.val_nll_lo[0] <= paired.val_nll_delta[0] <= paired.val_nll_hi[0]
    assert "no setting is in both tables" not in capsys.readouterr().err


def test_page_refuses_an_existing_folder(names, tmp_path):
    _, data = names
    al = align(side("A", bigram(data), data), side("B", bigram(data), data), lines=True)
    (tmp_path / "out").mkdir()
    with pytest.raises(ValueError, match="exists"):
        write_diff(tmp_path / "out", None, None, al, labels={}, what="x")
