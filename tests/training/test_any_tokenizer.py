"""Every rung, every command, any tokenizer: train, score, sample with a prompt, evaluate a text file and resume on
word- and BPE-tokenized corpora (stream and lines), with bits per character on one scale for all of them."""

import json
import math

import numpy as np
import pytest

from lmladder import cli
from lmladder.checkpoints import load_training_checkpoint
from lmladder.data import load_prepared, load_text, prepare_corpus
from lmladder.inference import sample_text
from lmladder.io import load_checkpoint
from lmladder.models import rung_class
from lmladder.nn.schedules import ScheduleSettings
from lmladder.training import (
    CheckpointSettings,
    EvalSettings,
    OptimSettings,
    Run,
    SampleSettings,
    TrainSettings,
    run_rung,
)

from ..ladder import RUNGS, small_config
from ..shared_data import shared_file

OPTIM = OptimSettings(lr=3e-3, schedule=ScheduleSettings(warmup_iters=2, min_lr=3e-4))
TOKENIZERS = {
    "word": dict(tokenizer="word", min_count=2),
    "bpe": dict(tokenizer="bpe", vocab_size=320),
}


@pytest.fixture(scope="module")
def corpora(tmp_path_factory):
    """(kind, tokenizer) -> prepared data: 20k characters of Tiny Shakespeare and 600 names."""
    play = load_text("file", path=shared_file("tinyshakespeare.txt"))[:20_000]
    names = "\n".join(load_text("file", path=shared_file("names.txt")).splitlines()[:600])
    out = {}
    for tok, kw in TOKENIZERS.items():
        for kind, text in (("stream", play), ("lines", names)):
            d = tmp_path_factory.mktemp(f"{kind}_{tok}")
            if kind == "lines" and tok == "word":
                kw = {**kw, "min_count": 1}  # every name is a word of its own, mostly seen once
            prepare_corpus(text, kind=kind, out_dir=d, **kw)
            out[kind, tok] = load_prepared(d)
    return out


def _train(rung, data, out, **kw):
    cls = rung_class(rung)
    targets = "last" if rung == "wavenet" else "all"  # BatchNorm refuses every-position batches
    train = TrainSettings(max_iters=6, batch_size=4, seq_len=8, eval=EvalSettings(interval=3, iters=1), targets=targets,
                          checkpoint=CheckpointSettings(interval=3), progress=False)  # fmt: skip
    parts = dict(optim=OPTIM, train=train) if cls.trainable else {}
    sample = SampleSettings(num_samples=2, sample_tokens=8)
    config = small_config(rung, data.vocab_size)
    return run_rung(Run(cls, config, data, sample=sample, **parts, seed=0, out_dir=out, meta={}, log=lambda _: 0, **kw))


@pytest.mark.parametrize("tok", TOKENIZERS)
@pytest.mark.parametrize("rung", RUNGS)
def test_every_rung_trains_scores_samples_and_evaluates(rung, tok, corpora, tmp_path, capsys):
    data = corpora["stream", tok]
    m = _train(rung, data, tmp_path)
    val = data.stats["splits"]["val"]
    assert m["tokenizer"] == {"word": "word/min2", "bpe": "bpe-320/gpt4"}[tok]
    assert m["val"]["chars"] == val["predicted_chars"] and m["val"]["bytes"] == val["predicted_bytes"]
    nats = m["val"]["nll"] * m["val"]["tokens"]
    assert math.isclose(m["val"]["bpc"], nats / math.log(2) / val["predicted_chars"], rel_tol=1e-12)
    assert (tmp_path / "samples.txt").read_text().strip()
    ckpt = str(tmp_path / "model.safetensors")
    assert cli.main(["sample", ckpt, "--prompt", "ROMEO: thou", "--max-new-tokens", "6", "--seed", "1"]) == 0
    assert capsys.readouterr().out.startswith("ROMEO: thou")
    held = tmp_path / "held.txt"
    held.write_text("First Citizen:\nSpeak, speak.\nRomeo and Juliet, zebra.\n")
    assert cli.main(["evaluate", ckpt, "--text", str(held)]) == 0
    out, err = capsys.readouterr()
    scores = json.loads(out)
    first = data.tokenizer.decode(data.tokenizer.encode(held.read_text())[:1])  # "First" in words, less in BPE
    assert scores["chars"] == len(held.read_text()) - len(first) and np.isfinite(scores["bpb"])
    if tok == "word":  # 'Romeo', 'Juliet', 'zebra' are not in 20k characters of the play
        assert "outside the vocabulary" in err and "'zebra'" in err
    else:
        assert err == ""


@pytest.mark.parametrize("tok", TOKENIZERS)
def test_lines_corpus_samples_whole_documents_with_its_boundary(tok, corpora, tmp_path, capsys):
    data = corpora["lines", tok]
    _train("transformer", data, tmp_path)
    ck = load_training_checkpoint(tmp_path / "model.safetensors")
    docs = sample_text(ck.model, data, np.random.default_rng(0), num_samples=4, sample_tokens=12)
    assert len(docs) == 4 and all(d and "<|endoftext|>" not in d for d in docs)
    assert cli.main(["sample", str(tmp_path / "model.safetensors"), "--prompt", "an", "--max-new-tokens", "3"]) == 0
    assert capsys.readouterr().out.startswith("an")


@pytest.mark.parametrize("tok", TOKENIZERS)
def test_resume_is_bitwise_identical(tok, corpora, tmp_path):
    data = corpora["stream", tok]
    _train("transformer", data, tmp_path / "a")
    ckpt = tmp_path / "b" / "model.safetensors"
    cls = rung_class("transformer")
    from lmladder.models import for_data
    from lmladder.training import make_rngs, train

    rngs = make_rngs(0)
    model = cls(for_data(small_config("transformer", data.vocab_size), data), rng=rngs["model"])
    settings = TrainSettings(max_iters=6, batch_size=4, seq_len=8, eval=EvalSettings(interval=3, iters=1),
                             checkpoint=CheckpointSettings(interval=3), progress=False)  # fmt: skip
    train(model, data, optim=OPTIM, train=settings, rngs=rngs, out_dir=ckpt.parent, stop_at=3, log=print)
    _train("transformer", data, ckpt.parent, resume=ckpt)
    a, meta_a = load_checkpoint(tmp_path / "a" / "model.safetensors")
    b, meta_b = load_checkpoint(ckpt)
    assert meta_a["tokenizer"] == meta_b["tokenizer"] == data.tokenizer.to_dict()
    assert all(a[k].tobytes() == b[k].tobytes() for k in a) and sorted(a) == sorted(b)
