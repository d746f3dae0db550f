"""Files the cases of cases_diff5.py read (issue 70), under the sandbox's diff5/: two count models of bytes, texts
that are no UTF-8 (a stray byte, a lone surrogate), a 1 MB text, a trigram of the names that holds unseen triples
impossible (k=0) with a name that has one, and a GPT with rotary positions on Tiny Shakespeare's characters."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lmladder.checkpoints import load_training_checkpoint, save_training_checkpoint
from lmladder.data import load_prepared, prepare_corpus
from lmladder.models import for_data, rung_class
from lmladder.models.transformer import GPT, GPTConfig
from lmladder.training import make_rngs


def _ngram(data, order: int, k: float):
    cls = rung_class("bigram")
    model = cls(for_data(cls.Config(order=order, smoothing="add_k", k=k), data), rng=np.random.default_rng(0))
    model.fit(np.asarray(data.splits["train"]))
    return model


def build_diff5(root: Path) -> None:
    d = root / "diff5"
    speech = (root / "corpora" / "shakespeare.txt").read_bytes()
    prepare_corpus(speech, kind="stream", tokenizer="byte", out_dir=d / "bytes")
    data = load_prepared(d / "bytes")
    for order in (2, 3):
        model = _ngram(data, order, 0.1)
        save_training_checkpoint(d / f"byte{order}.safetensors", model, data.tokenizer, rngs=make_rngs(0))
    (d / "not_utf8.txt").write_bytes(b"First Citizen: hear me \xff\xfe speak.\n")
    (d / "lone_surrogate.txt").write_bytes(b"First Citizen: hear me \xed\xa0\x80 speak.\n")  # U+D800 as UTF-8
    (d / "big.txt").write_bytes(speech[:1000] * 1000)  # 1 MB
    names = load_prepared(root / "data" / "prepared")
    impossible = _ngram(names, 3, 0.0)
    save_training_checkpoint(d / "trigram_k0.safetensors", impossible, names.tokenizer, rngs=make_rngs(0))
    (d / "unseen.txt").write_text("anna\nqqqq\n")  # a triple no name of the corpus has
    tok = load_training_checkpoint(root / "frontier" / "other_corpus" / "model.safetensors").tokenizer
    c = GPTConfig(block_size=8, n_layer=1, n_head=2, n_embd=8, vocab_size=tok.vocab_size, pos="rope")
    save_training_checkpoint(d / "rope.safetensors", GPT(c, rng=np.random.default_rng(0)), tok)
