"""`lmladder inspect`: every rung gets the pictures that apply to it, each image in the page is a valid PNG equal
to the file beside it, and bad targets or options are one-line errors."""

import base64
import re

import numpy as np
import pandas as pd
import pytest

from lmladder import cli, nn
from lmladder.checkpoints import save_training_checkpoint
from lmladder.data import CharTokenizer
from lmladder.insight import InspectError, figures, inspect_run
from lmladder.models import rung_class
from lmladder.training import EvalSettings, OptimSettings, TrainSettings, make_rngs, train
from tests.ladder import RUNGS, small_config

from .reliability.harness import build_base, run_in_process

PNG = b"\x89PNG\r\n\x1a\n"
TOK = CharTokenizer.build("abcdefgh ij\n")


def _checkpoint(rung, path):
    rngs = make_rngs(0)
    model = rung_class(rung)(small_config(rung, vocab_size=TOK.vocab_size), rng=rngs["model"])
    if not model.trainable:
        model.fit(np.random.default_rng(0).integers(0, TOK.vocab_size, 500))
    save_training_checkpoint(path, model, TOK, rngs=rngs)
    return path


def images(page):
    """{alt: PNG bytes} of every image the page shows."""
    found = re.findall(r"<img alt='(\w+)' src='data:image/png;base64,([A-Za-z0-9+/=]+)'>", page.read_text())
    return {alt: base64.b64decode(b64) for alt, b64 in found}


@pytest.mark.parametrize("rung", RUNGS)
def test_every_rung_gets_its_pictures_as_valid_pngs(rung, tmp_path):
    page = inspect_run(_checkpoint(rung, tmp_path / "m.safetensors"), tmp_path / "out")
    shown = images(page)
    assert shown and all(data.startswith(PNG) for data in shown.values())
    assert {p.stem for p in (tmp_path / "out").glob("*.png")} == set(shown)
    assert all((tmp_path / "out" / f"{alt}.png").read_bytes() == data for alt, data in shown.items())
    model = rung_class(rung)(small_config(rung, vocab_size=TOK.vocab_size), rng=make_rngs(0)["model"])
    tokens = any(isinstance(m, nn.Embedding) and m.weight.shape[0] == model.vocab_size for m in model.modules())
    want = {"next_tokens", "transitions"}
    want |= {"gradients"} if model.trainable else set()
    want |= {"embeddings"} if tokens else set()  # a token embedding: V rows
    want |= {"attention"} if rung == "transformer" else set()
    want |= {"activations"} if rung in ("mlp", "transformer", "bow", "wavenet") else set()
    assert want <= set(shown), want - set(shown)


def test_a_run_folder_adds_its_curves_and_update_ratios(tiny_names, tmp_path):
    rngs = make_rngs(0)
    model = rung_class("transformer")(
        small_config("transformer", vocab_size=tiny_names.tokenizer.vocab_size), rng=rngs["model"]
    )
    settings = TrainSettings(
        max_iters=4, batch_size=4, eval=EvalSettings(interval=2, iters=1), health_interval=2, progress=False
    )
    train(model, tiny_names, optim=OptimSettings(), train=settings, rngs=rngs, out_dir=tmp_path, log=lambda *_: 0)
    shown = images(inspect_run(tmp_path, prompt_ids=tiny_names.tokenizer.encode("\nemma"), layer=1))
    assert {"loss", "update_data", "attention", "activations"} <= set(shown)
    assert (tmp_path / "inspect" / "index.html").exists()


def test_the_same_seed_draws_the_same_bytes(tmp_path):
    ckpt = _checkpoint("transformer", tmp_path / "m.safetensors")
    a, b = images(inspect_run(ckpt, tmp_path / "a")), images(inspect_run(ckpt, tmp_path / "b"))
    assert a == b


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["{d}/nope"], r"{d}/nope: no such file or folder; give a run folder"),
        (["{d}"], r"{d} holds no model.safetensors; give a run folder"),
        (["{ckpt}", "--layer", "5"], r"--layer 5: this transformer model has attention layers 0..1; leave --layer out"),
        (["{mlp}", "--layer", "0"], r"--layer 0: this mlp model has no attention layers; leave --layer out"),
        (["{ckpt}", "--prompt", "abcdefghij"], r"--prompt has 10 tokens, more than this model's context of 8; shorten"),
        (["{ckpt}", "--prompt", ""], r"--prompt is empty; give some text"),
        (["{ckpt}", "--prompt", "xyz"], r"--prompt has the character 'x' .* remove it from the prompt"),
    ],
)
def test_bad_targets_and_options_are_one_line_errors(args, message, tmp_path, capsys):
    names = {"d": tmp_path, "ckpt": tmp_path / "g.safetensors", "mlp": tmp_path / "m.safetensors"}
    _checkpoint("transformer", names["ckpt"])
    _checkpoint("mlp", names["mlp"])
    assert cli.main(["inspect", *(a.format(**names) for a in args)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and re.search(message.format(**names), err), err
    assert not any(p.name == "inspect" for p in tmp_path.iterdir())


def test_inspect_error_is_a_project_error():
    assert issubclass(InspectError, ValueError)


@pytest.mark.parametrize(
    ("vocab", "n_embd", "has"),
    [("abcdefgh ij\n", 1, "1-dimensional embeddings"), ("a", 8, "a vocabulary of one token")],
)
def test_a_picture_that_does_not_apply_is_a_note_and_the_others_are_drawn(vocab, n_embd, has, tmp_path):
    """One embedding dimension, or a vocabulary of one, has no 2-D projection: the page says so in its place."""
    tok = CharTokenizer.build(vocab)
    rngs = make_rngs(0)
    model = rung_class("mlp")(small_config("mlp", vocab_size=tok.vocab_size, n_embd=n_embd), rng=rngs["model"])
    ckpt = tmp_path / "m.safetensors"
    save_training_checkpoint(ckpt, model, tok, rngs=rngs)
    notes = []
    page = inspect_run(ckpt, tmp_path / "out", log=notes.append)
    shown = images(page)
    assert {"next_tokens", "transitions", "gradients", "activations"} <= set(shown) and "embeddings" not in shown
    why = f"not drawn: the model has {has}; a 2-D projection needs at least 2 dimensions and 2 tokens"
    assert notes == [f"Token embeddings (PCA): {why}"]
    assert f"<h2>Token embeddings (PCA)</h2><p class='note'>{why}</p>" in page.read_text()


def test_a_picture_that_fails_costs_only_itself(tmp_path, monkeypatch):
    def broken(*args):
        raise RuntimeError("font cache unreadable")

    monkeypatch.setattr(figures, "transitions", broken)
    page = inspect_run(_checkpoint("mlp", tmp_path / "m.safetensors"), tmp_path / "out")
    assert "transitions" not in images(page) and {"embeddings", "next_tokens"} <= set(images(page))
    assert "not drawn: RuntimeError: font cache unreadable (a bug;" in page.read_text()
    monkeypatch.setenv("LMLADDER_DEBUG", "1")  # the traceback back, for the one who fixes it
    with pytest.raises(RuntimeError):
        inspect_run(tmp_path / "m.safetensors", tmp_path / "out2")


def test_a_one_dimensional_embedding_trains_inspects_and_is_reported(tmp_path):
    """The real stages: train an MLP with mlp.model.n_embd=1 for a few steps, then `lmladder inspect` on its folder
    and the optional page@inspect stage (which draws the same pictures) both finish, with the note on the page."""
    sb = build_base(tmp_path)  # conf/, stages/, prepared names: all these stages read
    run_dir = sb.root / "outputs" / "mlp" / "seed0"
    r = run_in_process(sb, "mlp", ["mlp.model.n_embd=1"], str(run_dir))
    assert r.rc == 0, r.stderr
    note = "Token embeddings (PCA): not drawn: the model has 1-dimensional embeddings"
    r = run_in_process(sb, "cli", ["inspect", str(run_dir)], "")
    assert r.rc == 0 and f"[inspect] {note}" in r.stderr, r.stderr
    page = (run_dir / "inspect" / "index.html").read_text()
    assert "1-dimensional embeddings" in page and "alt='positions'" in page  # its own prepared data: the curve
    r = run_in_process(sb, "evaluate", ["pipeline=[mlp]"], str(sb.root / "eval"))
    assert r.rc == 0, r.stderr
    assert (sb.root / "eval" / "perplexity.md").exists()
    assert not (sb.root / "eval" / "inspect").exists()  # the pictures are an optional page of their own
    positions = pd.read_csv(sb.root / "eval" / "positions.csv")
    assert set(positions.rung) == {"mlp"} and positions.context.min() == 1
    assert "| mlp " in (sb.root / "eval" / "positions.md").read_text()  # its row, with its context used
    r = run_in_process(sb, "page@inspect", ["pipeline=[mlp]"], str(sb.root / "pages"))
    assert r.rc == 0, r.stderr
    assert f"[page@inspect] inspect/mlp: {note}" in r.stdout
    page = (sb.root / "pages" / "inspect" / "mlp" / "index.html").read_text()
    assert "1-dimensional embeddings" in page and "alt='transitions'" in page and "alt='positions'" in page
    r = run_in_process(sb, "page@diff", ["pipeline=[mlp]"], str(sb.root / "pages"))
    assert r.rc == 0, r.stderr
    assert "a diff needs two" in (sb.root / "pages" / "diff" / "index.html").read_text()  # one rung: a note


def test_byte_tokens_are_labelled_printably_and_draw_no_glyph_warnings(tmp_path, recwarn, capsys):
    """A byte model's labels were raw control bytes (on the terminal) and missing glyphs (a warning each)."""
    from lmladder.data import ByteTokenizer
    from lmladder.insight.page import label

    tok = ByteTokenizer()
    assert [label(tok, i) for i in (0, 9, 10, 32, 97, 0xC3)] == ["\\x00", "⇥", "⏎", "␣", "a", "\\xc3"]
    rngs = make_rngs(0)
    model = rung_class("bigram")(small_config("bigram", vocab_size=tok.vocab_size), rng=rngs["model"])
    model.fit(np.random.default_rng(0).integers(0, tok.vocab_size, 5000))
    save_training_checkpoint(tmp_path / "m.safetensors", model, tok, rngs=rngs)
    page = inspect_run(tmp_path / "m.safetensors", tmp_path / "out")
    assert images(page) and not [w for w in recwarn if "Glyph" in str(w.message)]
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f]", capsys.readouterr().out + page.read_text())
