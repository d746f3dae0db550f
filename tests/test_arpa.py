"""ARPA export of the count rung: a reader written here (the back-off rule and nothing of lmladder's) must give
every val token the probability lmladder gives it, on a lines corpus (names) and a stream (Tiny Shakespeare)."""

import math

import numpy as np
import pytest

from lmladder.data import CharTokenizer
from lmladder.export.arpa import ArpaError, arpa_words, write_arpa
from lmladder.models.bigram import NGram, NGramConfig

from .shared_data import shared_file


def read_arpa(path):
    """(order, {n-gram: log10 p}, {n-gram: log10 bow}), checking the layout: header counts equal the sections',
    every value finite, every listed n-gram's context listed too."""
    lines = path.read_text(encoding="utf-8").split("\n")
    assert lines[0] == "\\data\\" and lines[-2:] == ["\\end\\", ""]
    header = dict(line[len("ngram ") :].split("=") for line in lines[1 : lines.index("")])
    want = {int(m): int(c) for m, c in header.items()}
    probs, bows, order, got = {}, {}, 0, {}
    for line in lines[len(want) + 2 : -2]:
        if line.startswith("\\"):
            order = int(line[1 : line.index("-")])
            got[order] = 0
        elif line:
            fields = line.split("\t")
            gram = tuple(fields[1].split(" "))
            assert len(gram) == order and gram not in probs
            probs[gram] = float(fields[0])
            if len(fields) == 3:
                bows[gram] = float(fields[2])
            got[order] += 1
    assert got == want == {m: want[m] for m in range(1, len(want) + 1)}
    assert all(map(math.isfinite, [*probs.values(), *bows.values()]))
    assert all(g[:-1] in probs for g in probs if len(g) > 1)  # KenLM needs every context listed
    return len(want), probs, bows


def backoff(probs, bows, h, w):
    """p(w | h) = p*(h w) if listed, else bow(h) p(w | h without its oldest word)."""
    scale = 1.0
    while h + (w,) not in probs:
        scale *= 10 ** bows.get(h, 0.0)
        h = h[1:]
    return scale * 10 ** probs[h + (w,)]


def arpa_scores(path, tokens, words, boundary, every_word):
    """(len(tokens) - 1, V) p of every word after each prefix tokens[:i], i >= 1 (lmladder's targets), scoring as
    KenLM does: <s> first, a lines corpus's boundary as </s> (and a fresh <s> after it), contexts of the last
    order-1 words; rows not in the mask every_word hold only the next token's p (the rest NaN), for speed."""
    order, probs, bows = read_arpa(path)
    names = ["</s>" if t == boundary else w for t, w in enumerate(words)]
    out, hist = np.full((len(tokens) - 1, len(words)), np.nan), ["<s>"]
    for i, t in enumerate(tokens.tolist()):
        if i:
            h = tuple(hist[max(0, len(hist) - order + 1) :])
            for u in range(len(words)) if every_word[i - 1] else [t]:
                out[i - 1, u] = backoff(probs, bows, h, names[u])
        hist = ["<s>"] if t == boundary else [*hist, names[t]]
    return out


# order 7 runs the same lines as order 5 (deeper back-off chains): the slow tier checks it
ORDERS = [2, 5, pytest.param(7, marks=pytest.mark.slow)]


@pytest.fixture(scope="module")
def shakespeare():
    """A slice as a stream: (train, val, tokenizer); train covers val's characters."""
    text = shared_file("tinyshakespeare.txt").read_text(encoding="utf-8")[:60_000]
    tok = CharTokenizer.build(text)
    ids = tok.encode(text)
    return ids[:54_000], ids[54_000:], tok


def fitted(train, tok, order, smoothing, **config):
    b = tok.boundary_id
    cfg = NGramConfig(order, smoothing, vocab_size=tok.vocab_size, pad_id=b or 0, boundary_id=b, **config)
    return NGram(cfg).fit(train)


def check_exact(model, tok, path, *splits, every_word=300):
    """Written once; then, per split, every token's p, and every word's p after the first and the last
    `every_word` prefixes of the split + as many random tokens (contexts never seen), as the reader gets them from
    the file and as lmladder does. Returns lmladder's p of all that was compared."""
    words = arpa_words(tok)
    write_arpa(model, path, words)
    wants = []
    for split in splits:
        seq = np.concatenate([split, np.random.default_rng(model.order).integers(0, tok.vocab_size, every_word)])
        probs = np.exp(model(seq[None, :-1])[0].data[0])  # (len(seq) - 1, V)
        rows = np.arange(len(seq) - 1)
        full = (rows < every_word) | (rows >= len(split) - every_word)
        got = arpa_scores(path, seq, words, tok.boundary_id, full)
        asked = ~np.isnan(got)
        got, want = got[asked], probs[asked]
        zero = want == 0  # add_k with k=0: written as log10 -99
        np.testing.assert_allclose(got[~zero], want[~zero], rtol=1e-6, atol=0)
        assert (got[zero] < 1e-90).all()
        wants.append(want)
    return np.concatenate(wants)


@pytest.mark.parametrize("smoothing", ["add_k", "kneser_ney"])
@pytest.mark.parametrize("order", ORDERS)
def test_names_every_val_token_exact(names_prepared, smoothing, order, tmp_path):
    p = names_prepared
    model = fitted(p.splits["train"], p.tokenizer, order, smoothing)
    check_exact(model, p.tokenizer, tmp_path / "names.arpa", np.asarray(p.splits["val"], dtype=np.int64))


@pytest.mark.parametrize("smoothing", ["add_k", "kneser_ney"])
@pytest.mark.parametrize("order", ORDERS)
def test_shakespeare_every_val_token_exact(shakespeare, smoothing, order, tmp_path):
    train, val, tok = shakespeare  # train's start: the stream start <s> as the fit saw it
    check_exact(fitted(train, tok, order, smoothing), tok, tmp_path / "shakespeare.arpa", val, train[:1000])


def test_raw_counts_and_fixed_discount(names_prepared, tmp_path):
    """k=0 (probability 0 is log10 -99) and one fixed Kneser-Ney discount, at the edges of the orders."""
    p, val = names_prepared, np.asarray(names_prepared.splits["val"][:3000], dtype=np.int64)
    train, tok = p.splits["train"], p.tokenizer
    assert (check_exact(fitted(train, tok, 3, "add_k", k=0.0), tok, tmp_path / "a", val) == 0).any()
    check_exact(fitted(train, tok, 1, "kneser_ney"), tok, tmp_path / "b", val)
    check_exact(fitted(train, tok, 4, "kneser_ney", discount=0.6), tok, tmp_path / "c", val)


def test_words_and_refusals(names_prepared, tmp_path):
    tok = CharTokenizer(["a", " ", "\\", "<"], unk="?")
    assert arpa_words(tok) == ["a", "\\u0020", "\\u005c", "<", "<unk>"]
    p = names_prepared
    model = fitted(p.splits["train"], p.tokenizer, 2, "add_k")
    words = arpa_words(p.tokenizer)
    with pytest.raises(ArpaError, match="both the word 'a'"):
        write_arpa(model, tmp_path / "x.arpa", [words[0], *["a"] * (len(words) - 1)])
    with pytest.raises(ArpaError, match="pad_id=1 differs from boundary_id=0"):
        cfg = NGramConfig(2, vocab_size=p.vocab_size, pad_id=1, boundary_id=0)
        write_arpa(NGram(cfg).fit(p.splits["train"]), tmp_path / "x.arpa", words)
    assert not list(tmp_path.iterdir())  # refused before anything was written


def test_the_export_command_writes_a_checkpoints_arpa_file(names_prepared, tmp_path, capsys):
    """`lmladder export CKPT --to arpa OUT`: the file the library writes, from a saved count-model checkpoint."""
    from lmladder.checkpoints import save_training_checkpoint
    from lmladder.cli import main

    p = names_prepared
    model = fitted(p.splits["train"], p.tokenizer, 3, "kneser_ney")
    save_training_checkpoint(tmp_path / "ngram.safetensors", model, p.tokenizer)
    write_arpa(model, tmp_path / "direct.arpa", arpa_words(p.tokenizer))
    assert main(["export", str(tmp_path / "ngram.safetensors"), "--to", "arpa", str(tmp_path / "cli.arpa")]) == 0
    assert (tmp_path / "cli.arpa").read_bytes() == (tmp_path / "direct.arpa").read_bytes()
    assert main(["export", str(tmp_path / "ngram.safetensors"), "--to", "hf", str(tmp_path / "hf")]) == 2
    assert "formats by rung: hf: transformer; gguf: transformer; arpa: bigram" in capsys.readouterr().err


@pytest.mark.parametrize("smoothing", ["add_k", "kneser_ney"])
def test_kenlm_loads_the_file_and_scores_names_as_lmladder(names_prepared, smoothing, tmp_path):
    """KenLM itself (skipped where the kenlm module is not installed): each val name's log10 probability, end token
    included, equals lmladder's to float32 precision (KenLM stores probabilities as 32-bit floats)."""
    kenlm = pytest.importorskip("kenlm")
    p = names_prepared
    model = fitted(p.splits["train"], p.tokenizer, 5, smoothing)
    words = arpa_words(p.tokenizer)
    write_arpa(model, tmp_path / "names.arpa", words)
    lm = kenlm.Model(str(tmp_path / "names.arpa"))
    assert lm.order == 5
    val = np.asarray(p.splits["val"][:4000], dtype=np.int64)
    logp = model(val[None, :-1])[0].data[0][np.arange(len(val) - 1), val[1:]] / math.log(10)  # log10 p(target)
    cuts = np.flatnonzero(val == p.tokenizer.boundary_id)
    for a, b in zip(cuts[:-1], cuts[1:], strict=False):  # one name: tokens a+1..b (its end token at b)
        name = " ".join(words[t] for t in val[a + 1 : b])
        assert lm.score(name, bos=True, eos=True) == pytest.approx(logp[a:b].sum(), rel=1e-5, abs=1e-5), name


def test_kenlm_scores_a_stream_as_lmladder(shakespeare, tmp_path):
    kenlm = pytest.importorskip("kenlm")
    train, val, tok = shakespeare
    model = fitted(train, tok, 4, "kneser_ney")
    words = arpa_words(tok)
    write_arpa(model, tmp_path / "s.arpa", words)
    lm = kenlm.Model(str(tmp_path / "s.arpa"))
    seq = np.concatenate([train[:1], val[:3000]])  # the stream's first token after <s>, as the fit saw it
    logp = model(seq[None, :-1])[0].data[0][np.arange(len(seq) - 1), seq[1:]] / math.log(10)
    got = [s[0] for s in lm.full_scores(" ".join(words[t] for t in seq), bos=True, eos=False)]
    np.testing.assert_allclose(got[1:], logp, rtol=1e-5, atol=1e-5)
