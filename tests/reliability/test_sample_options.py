"""`lmladder sample` options beyond drawing tokens: --stop STRING, <|endoftext|>, --beam N and --prompt-file (the
bad values of each are cases in cases.py)."""

from __future__ import annotations

import numpy as np
import pytest

from lmladder import cli
from lmladder.checkpoints import load_training_checkpoint, save_training_checkpoint
from lmladder.cli.sample import _continuation
from lmladder.data import BPETokenizer, CharTokenizer
from lmladder.inference.beam import beam_search
from lmladder.inference.sampling import generate, stop_at, stop_token
from lmladder.models import build_model
from lmladder.training import make_rngs

SEP = "\n" + "-" * 40 + "\n"


def _checkpoint(path, tok, eot_bias=None):
    """An untrained MLP; `eot_bias` makes it draw <|endoftext|> first."""
    rngs = make_rngs(0)
    model = build_model("mlp", vocab_size=tok.vocab_size, rng=rngs["model"], context=3, n_embd=4, n_hidden=8)
    if eot_bias is not None:
        model.head.bias.data[tok.special_ids["<|endoftext|>"]] = eot_bias
    save_training_checkpoint(path, model, tok, rngs=rngs)
    return str(path)


@pytest.fixture(scope="module")
def ckpts(tmp_path_factory):
    d = tmp_path_factory.mktemp("sample_options")
    bpe = BPETokenizer.train("a rose by any other name would smell as sweet\n" * 4, 270)
    return {
        "stream": _checkpoint(d / "stream.safetensors", CharTokenizer.build("abc de\n")),
        "lines": _checkpoint(d / "lines.safetensors", CharTokenizer.build("anna\nbob\njan\n", lines=True)),
        "bpe": _checkpoint(d / "bpe.safetensors", bpe),
        "bpe_eot": _checkpoint(d / "bpe_eot.safetensors", bpe, eot_bias=50.0),
    }


def _sample(capsys, *args) -> str:
    assert cli.main(["sample", *map(str, args)]) == 0
    return capsys.readouterr().out


def test_stop_at_cuts_right_after_the_string_even_across_pieces():
    assert list(stop_at(["ab", "c\nd", "ef"], "\nd")) == ["ab", "c\nd"]
    assert list(stop_at(["a", "b", "cd", "e"], "bc")) == ["a", "b", "c"]  # the match spans two pieces
    assert list(stop_at(["x", "yz"], "abcdef")) == ["x", "yz"]  # never found: everything
    assert list(stop_at(["hello world"], "o")) == ["hello"]


def test_stop_ends_a_sample_with_the_string(ckpts, capsys):
    """One sample of 60 tokens, and the same with --stop: the same draws, cut after the first 'd' of the new text."""
    full = _sample(capsys, ckpts["stream"], "--prompt", "d", "--num-samples", 1, "--max-new-tokens", 60)
    new = full.removeprefix("d").removesuffix(SEP)
    assert "d" in new  # 60 draws from 6 characters
    out = _sample(capsys, ckpts["stream"], "--prompt", "d", "--num-samples", 1, "--max-new-tokens", 60, "--stop", "d")
    assert out == "d" + new[: new.index("d") + 1] + SEP  # the prompt's own 'd' does not count
    three = _sample(capsys, ckpts["stream"], "--num-samples", 3, "--max-new-tokens", 60, "--stop", " d").split(SEP)
    assert all(" d" not in s[:-1] for s in three[:3]) and any(s.endswith(" d") for s in three[:3])  # 2 characters


def test_drawing_endoftext_ends_a_sample(ckpts, capsys):
    tok = load_training_checkpoint(ckpts["bpe"]).tokenizer
    assert stop_token(tok) == tok.special_ids["<|endoftext|>"]
    assert stop_token(CharTokenizer.build("ab\n")) is None
    assert stop_token(CharTokenizer.build("ab\n", lines=True)) == 0  # the boundary
    out = _sample(capsys, ckpts["bpe_eot"], "--prompt", "a rose", "--num-samples", 2, "--max-new-tokens", 50)
    assert out == ("a rose" + SEP) * 2  # ended at once, and the token is not printed
    assert _sample(capsys, ckpts["bpe_eot"], "--prompt", "a rose", "--beam", 3) == "a rose" + SEP


@pytest.mark.parametrize("which", ["stream", "lines", "bpe"])
def test_beam_prints_the_best_beam_once(which, ckpts, capsys):
    ck = load_training_checkpoint(ckpts[which])
    tok, prompt = ck.tokenizer, "an" if which == "lines" else "a ro" if which == "bpe" else "ab"
    ids = tok.encode(prompt)
    if tok.boundary_id is not None:
        ids = np.concatenate([[tok.boundary_id], ids])
    best = beam_search(ck.model, ids, 15, 4, stop_id=stop_token(tok)).ids
    best = best[best != tok.boundary_id] if tok.boundary_id is not None else best
    out = _sample(capsys, ckpts[which], "--prompt", prompt, "--beam", 4, "--max-new-tokens", 15)
    assert out == prompt + _continuation(tok, ids, best) + ("\n" if which == "lines" else SEP)
    greedy = _sample(capsys, ckpts[which], "--prompt", prompt, "--greedy", "--num-samples", 1, "--max-new-tokens", 15)
    assert _sample(capsys, ckpts[which], "--prompt", prompt, "--beam", 1, "--max-new-tokens", 15) == greedy


def test_prompt_file_reads_the_prompt(ckpts, tmp_path, capsys):
    f = tmp_path / "p.txt"
    f.write_text("jan\n")  # as `echo jan > p.txt` writes it: a lines model drops the final newline
    by_text = _sample(capsys, ckpts["lines"], "--prompt", "jan", "--seed", 3)
    assert _sample(capsys, ckpts["lines"], "--prompt-file", f, "--seed", 3) == by_text
    f.write_text("ab\nc")  # a stream model takes the file as it is, newlines and all
    by_text = _sample(capsys, ckpts["stream"], "--prompt", "ab\nc", "--num-samples", 2, "--max-new-tokens", 9)
    assert _sample(capsys, ckpts["stream"], "--prompt-file", f, "--num-samples", 2, "--max-new-tokens", 9) == by_text
    assert by_text.startswith("ab\nc")


def test_the_sample_draws_match_generate_with_the_stop_token(ckpts, capsys):
    """Sampling a BPE stream model passes <|endoftext|> as the stop token: the same draws as generate's."""
    ck = load_training_checkpoint(ckpts["bpe"])
    tok, ids = ck.tokenizer, ck.tokenizer.encode("a ro")
    rng = np.random.default_rng(0)
    eot = tok.special_ids["<|endoftext|>"]
    rows = [generate(ck.model, ids[None], 40, rng=rng, stop_id=eot)[0] for _ in range(2)]
    want = "".join("a ro" + _continuation(tok, ids, r[r != eot]) + SEP for r in rows)
    assert _sample(capsys, ckpts["bpe"], "--prompt", "a ro", "--num-samples", 2, "--max-new-tokens", 40) == want
