"""The GPT's look-backs (nn/lookback.py; GPTConfig's lookback group: smear, ngram, conv): what each computes,
written out by hand; that they start as no-ops and draw nothing from the generator; that they gradcheck, count
their parameters, save and load, sample alike with and without the KV cache, and learn in a short training run.
(The whole GPT's gradcheck and KV-cache agreement with each option: test_modern_gpt.py's OPTIONS.)"""

import numpy as np
import pandas as pd
import pytest

from lmladder.autograd import Tensor, gradcheck, no_grad
from lmladder.checkpoints import load_training_checkpoint, save_training_checkpoint
from lmladder.data import CharTokenizer
from lmladder.inference import generate
from lmladder.models import build_model
from lmladder.nn.lookback import NgramEmbedding, Smear
from lmladder.nn.schedules import ScheduleSettings
from lmladder.training import CheckpointSettings, EvalSettings, OptimSettings, TrainSettings, make_rngs, train

SIZES = dict(vocab_size=7, block_size=8, n_layer=2, n_head=2, n_embd=8)


def gpt(seed=0, dtype=np.float64, **kw):
    return build_model("transformer", rng=np.random.default_rng(seed), dtype=dtype, **{**SIZES, **kw})


def look(smear=None, order=0, buckets=8192, conv=0, at="ac") -> dict:
    """GPTConfig's lookback group: smear=None (off) or the gate's width (True: the default width)."""
    gate = {"enabled": smear is not None, "width": None if smear in (None, True) else smear}
    ngram = {"order": order, "buckets": buckets}
    return {"lookback": {"smear": gate, "ngram": ngram, "conv": {"kernel": conv, "at": at}}}


def test_smear_adds_the_gated_previous_embedding_and_leaves_the_first_position():
    r = np.random.default_rng(0)
    s = Smear(3, dtype=np.float64)
    s.weight.data[...] = r.standard_normal((1, 3))
    s.lam.data[...] = 0.7
    x = r.standard_normal((2, 5, 4))
    with no_grad():
        out = s(Tensor(x)).data
        before = r.standard_normal((2, 1, 4))
        cont = s(Tensor(x[:, 1:2]), Tensor(before)).data  # one token after `before`
    gate = 0.7 / (1 + np.exp(-(x[..., :3] @ s.weight.data.T)))  # (2, 5, 1)
    np.testing.assert_array_equal(out[:, 0], x[:, 0])
    np.testing.assert_allclose(out[:, 1:], x[:, 1:] + gate[:, 1:] * x[:, :-1], rtol=1e-14)
    np.testing.assert_allclose(cont[:, 0], x[:, 1] + gate[:, 1] * before[:, 0], rtol=1e-14)


def test_the_bigram_embedding_reads_the_row_of_each_pair_and_a_no_previous_row_first():
    V, C = 4, 3
    b = NgramEmbedding(V, C, 2, (V + 1) * V, dtype=np.float64)  # order 2 with a row for each pair
    assert b.weight.shape == ((V + 1) * V, C) and not b.weight.data.any()
    b.weight.data[...] = np.arange(b.weight.size).reshape(b.weight.shape)
    idx = np.array([[2, 0, 3], [1, 1, 2]])
    with no_grad():
        out = b(idx).data
        cont = b(idx[:, 1:], before=idx[:, 0]).data
    w = b.weight.data
    np.testing.assert_array_equal(out[0], w[[V * V + 2, 2 * V + 0, 0 * V + 3]])
    np.testing.assert_array_equal(out[1], w[[V * V + 1, 1 * V + 1, 1 * V + 2]])
    np.testing.assert_array_equal(cont, out[:, 1:])


def test_ngram_embedding_sums_an_exact_row_per_short_order_and_a_hashed_one_per_long_order():
    V, C = 4, 2
    e = NgramEmbedding(V, C, max_order=4, buckets=30)  # order 2: 20 exact rows; orders 3, 4: 100, 500 n-grams
    assert e.exact == [True, False, False] and e.weight.shape == (20 + 30 + 30, C) and not e.weight.data.any()
    idx = np.array([[2, 0, 3, 1, 2, 0, 3, 1], [1, 1, 2, 0, 3, 3, 0, 2]])
    rows = e.rows(idx)  # (2, 8, 3)
    np.testing.assert_array_equal(rows[0, :3, 0], [V * V + 2, 2 * V + 0, 0 * V + 3])  # the bigram embedding's rows
    assert (rows[..., 1] >= 20).all() and (rows[..., 1] < 50).all() and (rows[..., 2] >= 50).all()
    assert (rows[0, 7] == rows[0, 3]).all()  # the same 4-gram (2 0 3 1) ends both: the same rows
    assert len(np.unique(rows[..., 2])) > 8  # the hash spreads the 4-grams over the order's rows
    np.testing.assert_array_equal(e.rows(idx[:, 5:], before=idx[:, :5]), rows[:, 5:])  # the 3 before are enough
    padded = np.stack([np.full(2, V), np.full(2, V), idx[:, 0]], axis=1)  # fewer than 3 before: "no token" first
    np.testing.assert_array_equal(e.rows(idx[:, 1:], before=idx[:, 0]), e.rows(idx[:, 1:], before=padded))
    e.weight.data[...] = np.arange(e.weight.size).reshape(e.weight.shape)
    with no_grad():
        out = e(idx).data
    np.testing.assert_array_equal(out, e.weight.data[rows].sum(axis=2))


def test_smear_gradchecks_with_and_without_a_token_before():
    r = np.random.default_rng(1)
    s = Smear(2, dtype=np.float64)
    s.weight.data[...] = r.standard_normal((1, 2))
    s.lam.data[...] = 0.5
    x = Tensor(r.standard_normal((2, 4, 3)), requires_grad=True)
    before = Tensor(r.standard_normal((2, 1, 3)), requires_grad=True)
    assert gradcheck(lambda a: s(a), [x], params=s.parameters(), name="Smear")
    assert gradcheck(lambda a, p: s(a, p), [x, before], params=s.parameters(), name="Smear(before)")


LOOKBACKS = [look(smear=True), look(order=2), look(order=3), look(smear=True, order=2), look(conv=3)]


@pytest.mark.parametrize("kw", LOOKBACKS)
def test_a_model_with_the_look_backs_starts_as_the_same_model_without_them(kw):
    """Zero-initialised and drawing nothing from the generator: every other weight, and every logit, is the same."""
    base, other = gpt(dtype=np.float32), gpt(dtype=np.float32, **kw)
    sd = other.state_dict()
    for name, w in base.state_dict().items():
        assert sd[name].tobytes() == w.tobytes(), name
    idx = np.random.default_rng(2).integers(0, 7, (3, 8))
    with no_grad():
        assert base(idx)[0].data.tobytes() == other(idx)[0].data.tobytes()


def test_parameter_counts_grow_by_what_each_option_adds():
    base = gpt().num_parameters()
    assert gpt(**look(smear=True)).num_parameters() == base + 8 + 1  # gate over min(12, n_embd=8) channels, and lam
    assert gpt(**look(smear=3)).num_parameters() == base + 3 + 1
    assert gpt(**look(order=2)).num_parameters() == base + (7 + 1) * 7 * 8
    assert gpt(**look(order=3, buckets=60)).num_parameters() == base + ((7 + 1) * 7 + 60) * 8  # order 3 hashed
    assert gpt(**look(conv=3)).num_parameters() == base + 2 * 2 * 3 * 8  # two per block, a weight per channel
    assert gpt(**look(conv=3, at="b")).num_parameters() == base + 2 * 3 * 3 * 8  # q, k and v's channels
    assert gpt(**look(conv=2, at="abcd")).num_parameters() == base + 2 * 2 * (8 + 3 * 8 + 8 + 4 * 8)
    assert gpt(value_residual=True).num_parameters() == base + 1  # a weight per layer after the first
    for kw in (look(smear=True), look(order=2, smear=2), look(order=5), look(conv=4), look(conv=2, at="bd")):
        g = gpt(**kw)
        c = g.config.counts()
        assert c.params == g.num_parameters() >= type(g).min_params(g.config)
    c0, c1 = gpt().config.counts(), gpt(**look(smear=3)).config.counts()
    assert c1.matmul - c0.matmul == 3 and c1.flops_per_token - c0.flops_per_token == 6 * 3  # the gate's product
    for kw in (look(order=2), look(order=4)):
        c2 = gpt(**kw).config.counts()
        assert c2.non_embedding == c0.non_embedding and c2.flops_per_token == c0.flops_per_token  # lookups


def test_a_stored_config_from_before_the_convolutions_group_is_its_kernel_before_attention_and_the_mlp():
    stored = {**SIZES, "lookback": {"smear": {"enabled": False, "width": None}, "ngram": {"order": 0}, "conv": 3}}
    config = build_model("transformer", rng=np.random.default_rng(0), **SIZES).stored_config(stored)
    assert (config.lookback.conv.kernel, config.lookback.conv.at) == (3, "ac")


def test_a_checkpoint_with_the_look_backs_loads_back_to_the_same_model(tmp_path):
    g = gpt(dtype=np.float32, **look(smear=True, order=4, buckets=100, conv=2))
    for p in g.parameters():
        p.data += np.float32(0.1)
    tok = CharTokenizer.build("abcdef\n")
    save_training_checkpoint(tmp_path / "m.safetensors", g, tok)
    back = load_training_checkpoint(tmp_path / "m.safetensors").model
    assert back.config == g.config
    idx = np.random.default_rng(3).integers(0, 7, (2, 8))
    with no_grad():
        assert back(idx)[0].data.tobytes() == g(idx)[0].data.tobytes()


def test_sampling_with_the_cache_equals_sampling_without_it():
    g = gpt(dtype=np.float32, **look(smear=True, order=4, buckets=100, conv=3))
    r = np.random.default_rng(4)
    for p in g.parameters():  # off the zero init, so both look-backs change the logits
        p.data += (0.3 * r.standard_normal(p.shape)).astype(np.float32)
    prompt = np.array([[1, 2], [3, 4]])
    for kw in (dict(temperature=0), dict(temperature=1.0), dict(top_k=3)):
        a = generate(g, prompt, 6, rng=np.random.default_rng(0), use_cache=True, **kw)
        b = generate(g, prompt, 6, rng=np.random.default_rng(0), use_cache=False, **kw)
        assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True)), kw


@pytest.mark.parametrize("kw", LOOKBACKS[:3], ids=["smear", "bigram", "ngram"])
def test_a_short_training_run_learns_and_moves_the_look_back(kw, tiny_names, tmp_path):
    rngs = make_rngs(0)
    model = build_model("transformer", data=tiny_names, rng=rngs["model"], block_size=16, n_layer=2, n_head=2,
                        n_embd=16, **kw)  # fmt: skip
    settings = TrainSettings(max_iters=40, batch_size=8, eval=EvalSettings(interval=20, iters=3),
                             checkpoint=CheckpointSettings(interval=40), grad_stats_interval=20,
                             progress=False)  # fmt: skip
    optim = OptimSettings(lr=3e-3, schedule=ScheduleSettings(warmup_iters=5, min_lr=3e-4))
    train(model, tiny_names, optim=optim, train=settings, rngs=rngs, out_dir=tmp_path, log=lambda *_: None)
    ev = pd.read_csv(tmp_path / "eval_log.tsv", sep="\t")
    assert ev["val_loss"].iloc[-1] < ev["val_loss"].iloc[0] - 0.3
    moved = model.smear.lam.data if model.smear is not None else model.ngram.weight.data
    assert np.abs(moved).max() > 1e-3  # the option's own weights learned something
