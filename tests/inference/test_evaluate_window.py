"""`lmladder evaluate --window N`: rows of N tokens instead of the model's own length. A GPT scored with --window N
must equal the same weights built with block_size=N (rotary positions have no table sized by the context, so a
longer row is the same model reading further back); learned positions and lines corpora are refused by name."""

import json

import numpy as np
import pytest

from lmladder import cli
from lmladder.checkpoints import save_training_checkpoint
from lmladder.data import load_prepared, load_text, prepare_corpus
from lmladder.inference.scoring import score_tokens
from lmladder.models.transformer import GPT, GPTConfig

from ..shared_data import shared_file


@pytest.fixture(scope="module")
def play(tmp_path_factory):
    """(prepared stream data, a held-out text file) from 12k characters of Tiny Shakespeare."""
    text = load_text("file", path=shared_file("tinyshakespeare.txt"))[:12_000]
    d = tmp_path_factory.mktemp("play")
    prepare_corpus(text[:10_000], kind="stream", out_dir=d, tokenizer="char")
    held = d / "held.txt"
    held.write_text(text[10_000:])
    return load_prepared(d), held


def _gpt(vocab, block_size, pos):
    c = GPTConfig(block_size=block_size, n_layer=2, n_head=2, n_embd=16, vocab_size=vocab, pos=pos, qk_norm=True)
    return GPT(c, rng=np.random.default_rng(0), dtype=np.float64)


def _evaluate(capsys, *args):
    rc = cli.main(["evaluate", *map(str, args)])
    out, err = capsys.readouterr()
    return rc, (json.loads(out) if rc == 0 else None), err


@pytest.mark.parametrize("window", [4, 8, 16])
def test_a_rotary_gpt_scored_in_other_windows_equals_one_built_that_long(play, tmp_path, capsys, window):
    data, held = play
    trained = _gpt(data.vocab_size, 8, "rope")
    ckpt = tmp_path / "gpt.safetensors"
    save_training_checkpoint(ckpt, trained, data.tokenizer)
    rc, scores, _ = _evaluate(capsys, ckpt, "--text", held, "--window", window)
    assert rc == 0 and scores["window"] == window
    same = _gpt(data.vocab_size, window, "rope")
    same.load_state_dict(trained.state_dict())
    ids = data.tokenizer.encode(held.read_text())
    assert scores["nll"] == pytest.approx(score_tokens(same, ids, boundary_id=None)["nll"], rel=1e-12)
    rc, default, _ = _evaluate(capsys, ckpt, "--text", held)
    assert "window" not in default
    assert (scores["nll"] == default["nll"]) == (window == 8)  # only the model's own length scores the same


def test_learned_positions_stop_at_block_size(play, tmp_path, capsys):
    data, held = play
    ckpt = tmp_path / "learned.safetensors"
    save_training_checkpoint(ckpt, _gpt(data.vocab_size, 8, "learned"), data.tokenizer)
    assert _evaluate(capsys, ckpt, "--text", held, "--window", 4)[0] == 0
    rc, _, err = _evaluate(capsys, ckpt, "--text", held, "--window", 9)
    assert rc != 0
    assert "--window 9: a window of 9 exceeds this GPT's block_size=8 and its positions are learned" in err
    assert "use a window <= 8" in err


@pytest.mark.parametrize("pos", ["rope", "none"])
def test_a_window_longer_than_the_text_scores_the_text_in_one_row(play, tmp_path, capsys, pos):
    """--window 10^20 was an OverflowError traceback (a count model, the MLP), and 10^9 sized a mask by it: a row
    longer than the text is the whole text, and the JSON says how long the rows were."""
    data, held = play
    ids = data.tokenizer.encode(held.read_text())
    if pos == "rope":
        ckpt = tmp_path / "gpt.safetensors"
        save_training_checkpoint(ckpt, _gpt(data.vocab_size, 8, "rope"), data.tokenizer)
    else:  # a count model: rows of any length
        from lmladder.models import for_data, rung_class

        cls = rung_class("bigram")
        model = cls(for_data(cls.Config(order=3), data), rng=np.random.default_rng(0))
        model.fit(np.asarray(data.splits["train"]))
        ckpt = tmp_path / "trigram.safetensors"
        save_training_checkpoint(ckpt, model, data.tokenizer)
    rc, whole, err = _evaluate(capsys, ckpt, "--text", held, "--window", len(ids))
    assert rc == 0, err
    for huge in (10**9, 99999999999999999999):
        rc, scores, err = _evaluate(capsys, ckpt, "--text", held, "--window", huge)
        assert rc == 0 and "Traceback" not in err, err
        assert scores["nll"] == whole["nll"] and scores["window"] == len(ids)
