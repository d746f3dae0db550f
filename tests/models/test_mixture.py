"""The mixture rung (models/mixture.py) on real text: a tiny GPT trained for a few hundred steps on 20k characters of
Tiny Shakespeare, mixed with the Kneser-Ney 7-gram. Its ends are its components, the fitted lam beats both ends
where it is fitted (val, or the train tail), its checkpoint alone scores bit for bit, and bad inputs fail in one
line."""

import re
from dataclasses import replace

import numpy as np
import pytest

from lmladder.autograd import no_grad
from lmladder.checkpoints import load_components, load_training_checkpoint
from lmladder.data import CharTokenizer
from lmladder.inference import generate, score_splits, score_tokens
from lmladder.models import ModelConfigError, for_data
from lmladder.models.bigram import NGram, NGramConfig
from lmladder.models.mixture import (
    Mixture,
    MixtureConfig,
    best_lambda,
    cross_fitted,
    holdout_split,
    log_probs,
    mix,
    target_log_probs,
)
from lmladder.models.transformer import GPT, GPTConfig
from lmladder.training import (
    CheckpointSettings,
    EvalSettings,
    OptimSettings,
    Run,
    SampleSettings,
    TrainSettings,
    make_rngs,
    run_rung,
    train,
)

KN7 = dict(order=7, smoothing="kneser_ney")


@pytest.fixture(scope="module")
def gpt(tiny_stream, tmp_path_factory):
    """A tiny GPT trained 500 steps on tiny_stream (seconds; val NLL 2.13, the 7-gram's 1.76): its checkpoint. Its
    dropout is on, so a lam fitted while the network draws dropout masks would differ from the one its scores fit."""
    out = tmp_path_factory.mktemp("gpt")
    rngs = make_rngs(0)
    model = GPT(
        for_data(GPTConfig(n_layer=1, n_head=2, n_embd=64, block_size=32, dropout=0.1), tiny_stream), rng=rngs["model"]
    )
    settings = TrainSettings(
        max_iters=500, batch_size=16, seq_len=32, eval=EvalSettings(interval=500, iters=2),
        checkpoint=CheckpointSettings(interval=500), health_interval=0, progress=False,
    )  # fmt: skip
    train(model, tiny_stream, optim=OptimSettings(lr=5e-3), train=settings, rngs=rngs, out_dir=out, log=lambda _: 0)
    return out / "model.safetensors"


def fitted(data, **fields) -> Mixture:
    model = Mixture(for_data(MixtureConfig(**fields), data), rng=np.random.default_rng(0))
    return model.fit(np.asarray(data.splits["train"]), **load_components(model), val=np.asarray(data.splits["val"]))


def test_lam_1_is_the_neural_model_and_lam_0_the_count_model(gpt, tiny_stream):
    neural = load_training_checkpoint(gpt).model.eval()
    count = NGram(for_data(NGramConfig(**KN7), tiny_stream)).fit(np.asarray(tiny_stream.splits["train"]))
    x = np.asarray(tiny_stream.splits["val"][:64]).reshape(2, 32)
    one, zero = fitted(tiny_stream, neural=str(gpt), lam=1.0), fitted(tiny_stream, neural=str(gpt), lam=0.0)
    with no_grad():
        np.testing.assert_array_equal(one(x)[0].data, log_probs(neural, x))  # log softmax of the GPT's logits
        np.testing.assert_array_equal(zero(x)[0].data, count(x)[0].data)  # the n-gram's log-probabilities
    val = np.asarray(tiny_stream.splits["val"])
    nll = {m: score_tokens(m, val, boundary_id=None, seq_len=32)["nll"] for m in (zero, count)}
    assert nll[zero] == nll[count]  # the same windows (the mixture's block_size is the GPT's), the same bits
    got, want = score_splits(one, tiny_stream)["val"]["nll"], score_splits(neural, tiny_stream)["val"]["nll"]
    assert got == pytest.approx(want, rel=1e-6)  # the GPT scores in float32, the mixture in float64


def test_lam_fitted_on_val_is_val_s_best_and_its_cross_fitted_score_is_said(gpt, tiny_stream):
    model = fitted(tiny_stream, neural=str(gpt))
    lam, val = model.config.lam, np.asarray(tiny_stream.splits["val"])
    count = NGram(for_data(NGramConfig(**KN7), tiny_stream)).fit(np.asarray(tiny_stream.splits["train"]))
    log_p, log_q = (target_log_probs(m, val, None, 32) for m in (model.parts["neural"], count))
    assert 0 < lam < 1 and model.config.fit_on == "val" and best_lambda(log_p, log_q) == lam
    nll = {a: -mix(log_p, log_q, a).mean() for a in (0.0, lam / 2, lam, (1 + lam) / 2, 1.0)}
    assert nll[lam] == min(nll.values()) and nll[lam] < min(nll[0.0], nll[1.0]) - 0.01, nll
    assert score_splits(model, tiny_stream)["val"]["nll"] == pytest.approx(nll[lam], rel=1e-8)  # the same windows
    cross = cross_fitted(log_p, log_q)  # each half's lam is further from its own best than the whole's lam
    assert nll[lam] < cross < nll[lam] + 0.01
    said = re.fullmatch(
        r"lam = 0\.\d{4} \(the neural share\), fitted on val's 1,\d{3} tokens \(val NLL (\d\.\d{4}) with it, "
        r"(\d\.\d{4}) with each half's lam fitted on the other half\)",
        model.fit_summary(),
    )
    assert said and said.groups() == (f"{nll[lam]:.4f}", f"{cross:.4f}"), model.fit_summary()


def test_the_fitted_lam_beats_both_ends_on_the_tail_and_both_components_on_val(gpt, tiny_stream):
    model = fitted(tiny_stream, neural=str(gpt), fit_on="train_tail")
    lam = model.config.lam
    assert 0 < lam < 1 and model.config.neural_rung == "transformer"
    train_ids = np.asarray(tiny_stream.splits["train"])
    head, tail = holdout_split(train_ids, 0.05, None)
    assert len(tail) == len(train_ids) - int(len(train_ids) * 0.95) and head[-1] == tail[0]
    count = NGram(for_data(NGramConfig(**KN7), tiny_stream)).fit(head)
    log_p, log_q = (target_log_probs(m, tail, None, 32) for m in (model.parts["neural"], count))
    assert best_lambda(log_p, log_q) == lam
    nll = {a: -mix(log_p, log_q, a).mean() for a in (0.0, lam / 2, lam, (1 + lam) / 2, 1.0)}
    assert nll[lam] == min(nll.values()) and nll[lam] < min(nll[0.0], nll[1.0]) - 0.01, nll
    val = {m: score_splits(m, tiny_stream)["val"]["nll"] for m in (model, *model.parts.values())}
    assert val[model] < min(val[m] for m in model.parts.values()) - 0.005, val  # 1.756 < 1.765 (n-gram) < 2.13


def test_best_lambda_solves_the_one_dimensional_problem():
    p, q = np.log([0.9, 0.1]), np.log([0.1, 0.9])
    assert best_lambda(p, q) == pytest.approx(0.5, abs=1e-15)  # symmetric
    assert best_lambda(np.log([0.5, 0.6]), np.log([0.1, 0.2])) == 1.0  # the neural side is better on every target
    assert best_lambda(np.log([0.1, 0.2]), np.log([0.5, 0.6])) == 0.0
    r = np.random.default_rng(0)
    p, q = np.log(r.random(1000)), np.log(r.random(1000))
    lam = best_lambda(p, q)
    grid = np.linspace(0, 1, 1001)
    assert -mix(p, q, lam).mean() <= min(-mix(p, q, g).mean() for g in grid)


def test_a_lines_corpus_is_cut_at_a_document_boundary(tiny_names):
    ids = np.asarray(tiny_names.splits["train"])
    head, tail = holdout_split(ids, 0.05, tiny_names.boundary_id)
    assert tail[0] == tail[-1] == head[-1] == tiny_names.boundary_id and len(head) + len(tail) == len(ids) + 1
    assert len(tail) >= 0.05 * len(ids) - 20  # from the first boundary after the 95% mark


@pytest.mark.parametrize("fit", [dict(), dict(fit_on="train_tail", holdout=0.1)])
def test_the_checkpoint_alone_scores_and_samples_bit_for_bit(fit, gpt, tiny_stream, tmp_path):
    config = MixtureConfig(neural=str(gpt), **fit)
    m = run_rung(Run(
        Mixture, config, tiny_stream, sample=SampleSettings(num_samples=2, sample_tokens=40), seed=0,
        out_dir=tmp_path, meta={}, log=lambda _: 0,
    ))  # fmt: skip
    ck = load_training_checkpoint(tmp_path / "model.safetensors")
    c = ck.model.config
    assert type(ck.model) is Mixture and 0 < c.lam < 1 and c.neural_rung == "transformer" and c.order == 7
    assert c.neural_config["n_embd"] == 64 and "vocab_size" not in c.neural_config
    assert {k.split(".")[0] for k in ck.model.state_dict()} == {"neural", "count"}
    assert score_splits(ck.model, tiny_stream) == {k: m[k] for k in tiny_stream.splits if k != "train"}
    x = np.asarray(tiny_stream.splits["val"][:96]).reshape(3, 32)
    fresh = fitted(tiny_stream, neural=str(gpt), **fit)
    with no_grad():
        np.testing.assert_array_equal(ck.model(x)[0].data, fresh(x)[0].data)
    a, b = (generate(m, x[:, :5], 30, rng=np.random.default_rng(1)) for m in (ck.model, fresh))
    assert all(np.array_equal(r, s) for r, s in zip(a, b, strict=True))


@pytest.mark.parametrize(
    "fields, problem",
    [
        (dict(neural=None), r"^neural=None: the mixture needs a trained neural rung; give its checkpoint, e.g. neu"),
        (dict(neural="nope/model.safetensors"), r"^neural='nope/model.safetensors': no checkpoint there; train"),
        (dict(holdout=1.5), r"^holdout=1.5 must be in \(0, 1\)"),
        (dict(holdout=0.0), r"^holdout=0.0 must be in \(0, 1\)"),
        (dict(lam=2.0), r"^lam=2.0 must be in \[0, 1\], or null to fit it where fit_on says"),
        (
            dict(fit_on="test"),
            r"^fit_on='test'; choose one of val, train_tail \(where lam is fitted when lam is null\)",
        ),
        (dict(holdout=0.1), r"^holdout=0.1 is read with fit_on=train_tail only, and fit_on='val': it would change "),
        (
            dict(fit_on="train_tail", holdout=1e-9),
            r"^holdout=1e-09 of a 18,000-token train split leaves no tail to fit lam on; change",
        ),
    ],
)
def test_bad_settings_fail_in_one_line(fields, problem, gpt, tiny_stream):
    with pytest.raises(ModelConfigError, match=problem) as e:
        fitted(tiny_stream, **{"neural": str(gpt), **fields})
    assert "\n" not in str(e.value)


def test_a_neural_checkpoint_of_other_data_or_a_count_model_is_refused(gpt, tiny_names, tiny_stream, tmp_path):
    with pytest.raises(ModelConfigError, match=r"was trained with another tokenizer \(char, \d+ symbols\) than the "):
        fitted(tiny_names, neural=str(gpt))
    V = tiny_stream.vocab_size  # as many symbols, other ones: refused too
    other = replace(tiny_stream, tokenizer=CharTokenizer([chr(0x100 + i) for i in range(V)]))
    with pytest.raises(ModelConfigError, match="another tokenizer"):
        mixture = Mixture(for_data(MixtureConfig(neural=str(gpt)), other), rng=np.random.default_rng(0))
        mixture.fit(np.asarray(other.splits["train"]), neural=load_training_checkpoint(gpt))
    run_rung(Run(
        NGram, NGramConfig(order=3), tiny_stream, sample=SampleSettings(num_samples=0), seed=0, out_dir=tmp_path,
        meta={}, log=lambda _: 0,
    ))  # fmt: skip
    with pytest.raises(ModelConfigError, match="holds a bigram model, which is counted, not trained"):
        fitted(tiny_stream, neural=str(tmp_path / "model.safetensors"))


def test_lam_is_said_with_what_it_was_fitted_on_and_an_end_of_0_1_is_named(gpt, tiny_stream):
    m = fitted(tiny_stream, neural=str(gpt), fit_on="train_tail", holdout=0.1)
    assert re.fullmatch(r"lam = 0\.\d{4} \(the neural share\), fitted on the last 1,\d{3} train tokens \(holdout=0.1\)",
                        m.fit_summary())  # fmt: skip
    m.lam = 0.0  # what a tail the neural component does nothing for fits
    assert m.fit_summary().endswith("; the count model alone: the neural component adds nothing there")
    assert fitted(tiny_stream, neural=str(gpt), lam=0.5).fit_summary() == "lam = 0.5000 (the neural share), fixed"
    assert (
        "; only 89 tokens: raise holdout= or fix lam="
        in fitted(tiny_stream, neural=str(gpt), fit_on="train_tail", holdout=0.005).fit_summary()
    )


def test_fit_on_val_needs_val_and_a_checkpoint_from_before_it_says_train_tail(gpt, tiny_stream):
    model = Mixture(for_data(MixtureConfig(neural=str(gpt)), tiny_stream), rng=np.random.default_rng(0))
    with pytest.raises(ModelConfigError, match=r"^Mixture.fit: fit_on=val needs the val split: model.fit\(train, val="):
        model.fit(np.asarray(tiny_stream.splits["train"]), **load_components(model))
    stored = {k: v for k, v in vars(fitted(tiny_stream, neural=str(gpt), lam=0.5).config).items() if k != "fit_on"}
    assert Mixture.stored_config(stored).fit_on == "train_tail"  # what lam was fitted on before fit_on existed
