"""Exact scoring at forward speed: score_tokens runs the model's one forward under no_grad, in rows that score_rows
picks, and gives the numbers the forward with a graph gives (the code before this change scored in rows of 32 with
every op on the path that keeps what backward needs: `graph_scores` below is that code). The ops that compute
something for backward alone skip it under no_grad."""

import numpy as np
import pytest

from lmladder import fast
from lmladder.autograd import Function, no_grad
from lmladder.autograd import functional as F
from lmladder.data.batching import IGNORE_INDEX, eval_batches, eval_plan
from lmladder.inference import scoring
from lmladder.inference.scoring import OP_ROWS, score_rows, score_tokens
from lmladder.models.mlp import MLP, MLPConfig
from lmladder.models.rnn import RNN, RNNConfig
from lmladder.models.transformer import GPT, GPTConfig
from lmladder.models.transformer_config import LookbackConfig

MODERN = dict(dropout=0.1, tie_weights=False, pos="rope", qk_norm=True, activation="relu2", value_embeds=True)


def models(V: int) -> dict:
    """Small models of every kind of op the ladder's scoring runs: the preset's modern GPT (with its convolution and
    grouped key/value heads), nanoGPT's GPT, the GRU, the LSTM and the MLP; trained a little, so the scores are not
    all ln V."""
    made = {
        "gpt_modern": GPT(
            GPTConfig(
                vocab_size=V,
                block_size=32,
                n_layer=2,
                n_head=4,
                n_kv_head=2,
                n_embd=32,
                lookback=LookbackConfig(conv=dict(kernel=4)),
                **MODERN,
            ),
            rng=np.random.default_rng(1),
        ),
        "gpt_nanogpt": GPT(
            GPTConfig(vocab_size=V, block_size=32, n_layer=2, n_head=2, n_embd=32, dropout=0.1),
            rng=np.random.default_rng(2),
        ),
        "gru": RNN(
            RNNConfig(vocab_size=V, cell="gru", n_embd=16, n_hidden=32, n_layer=2, dropout=0.1),
            rng=np.random.default_rng(3),
        ),
        "lstm": RNN(RNNConfig(vocab_size=V, cell="lstm", n_embd=16, n_hidden=32), rng=np.random.default_rng(4)),
        "mlp": MLP(MLPConfig(vocab_size=V, context=5, n_embd=8, n_hidden=32), rng=np.random.default_rng(5)),
    }
    for m in made.values():  # a few large random steps away from the initialisation
        for p in m.parameters():
            p.data += np.random.default_rng(p.data.size).normal(0, 0.05, p.data.shape).astype(p.data.dtype)
    return made


def graph_scores(model, tokens, boundary_id, rows: int) -> np.ndarray:
    """The NLL of every target tokens[1:] as the scoring before this change computed it (its rows, windows and loss),
    with a graph recorded: every op on its training path."""
    kind, T = "stream" if boundary_id is None else "lines", model.window()
    starts = eval_plan(tokens, kind=kind, boundary_id=boundary_id, seq_len=T)[0]
    out = np.full(len(tokens) - 1, np.nan)
    with model.evaluating():
        for i, (x, y) in enumerate(
            eval_batches(tokens, kind=kind, boundary_id=boundary_id, seq_len=T, batch_size=rows)
        ):
            logits, _ = model(x)
            assert logits.requires_grad  # a graph: the path training takes
            per = F.cross_entropy(logits, y, ignore_index=IGNORE_INDEX, reduction="none").data
            keep = y != IGNORE_INDEX
            out[(starts[i * rows : (i + 1) * rows, None] + np.arange(y.shape[1]))[keep]] = per[keep]
    return out


def scored(model, tokens, boundary_id, rows=None) -> tuple[dict, np.ndarray]:
    per = np.full(len(tokens) - 1, np.nan)
    return score_tokens(model, tokens, boundary_id=boundary_id, batch_size=rows, token_nll=per), per


@pytest.fixture(scope="module", params=["stream", "lines"])
def split(request, tiny_stream, tiny_names):
    data = tiny_stream if request.param == "stream" else tiny_names
    return data.splits["val"], data.boundary_id, models(data.vocab_size)


@pytest.mark.parametrize("name", ["gpt_modern", "gpt_nanogpt", "gru", "lstm", "mlp"])
def test_no_grad_scores_are_the_graph_forwards_bits(split, name):
    tokens, boundary, made = split
    model = made[name]
    rows = score_rows(model, model.window())
    got, per = scored(model, tokens, boundary)
    graph = graph_scores(model, tokens, boundary, rows)
    if name == "gpt_modern":  # ModernQKV's one pass: the graph's kernels vectorise by the arrays' alignment
        np.testing.assert_allclose(per, graph, rtol=1e-6, atol=1e-6)
    else:  # the same rows, the same kernels: the same bits
        np.testing.assert_array_equal(per, graph)
    # in rows of 32, the batch of the code before: float32 round-off apart at most
    np.testing.assert_allclose(per, graph_scores(model, tokens, boundary, 32), rtol=1e-6, atol=1e-6)
    assert got["tokens"] == len(tokens) - 1 and np.isfinite(per).all()
    assert got["nll"] == pytest.approx(per.sum() / len(per), rel=1e-12)  # the total is the per-token NLLs' sum


@pytest.mark.parametrize("name", ["gpt_modern", "gpt_nanogpt", "gru"])
def test_the_textbook_numpy_scores_agree(split, name):
    tokens, boundary, made = split
    compiled = scored(made[name], tokens, boundary)[0]["nll"]
    fast.set_backend("numpy")
    try:
        textbook = scored(made[name], tokens, boundary)[0]["nll"]
    finally:
        fast.set_backend("compiled")
    assert textbook == pytest.approx(compiled, rel=2e-6)


def test_score_rows_gives_each_op_about_op_rows_rows_as_a_power_of_two(tiny_stream):
    made = models(tiny_stream.vocab_size)
    gpt, gru = made["gpt_nanogpt"], made["gru"]
    assert score_rows(gpt, 32) == OP_ROWS // 32  # a GPT's ops see rows x T
    assert score_rows(gru, 256) == OP_ROWS  # a recurrent model's steps see the rows alone: small ones fit in memory
    for m, T in ((gpt, 32), (gru, 256), (made["mlp"], 256)):
        r = score_rows(m, T)
        assert r >= 1 and r & (r - 1) == 0


def test_score_rows_takes_fewer_where_memory_is_short_and_the_scores_stay(tiny_stream, monkeypatch):
    tokens = tiny_stream.splits["val"]
    gru = models(tiny_stream.vocab_size)["gru"]
    fixed, per_row = scoring.footprint(gru, 256)
    free = score_tokens(gru, tokens, boundary_id=None)
    monkeypatch.setenv("LMLADDER_MEMORY_LIMIT", str(2 * (fixed + 4 * per_row)))  # half of it is the room
    assert score_rows(gru, 256) == 4
    short = score_tokens(gru, tokens, boundary_id=None)
    assert short["nll"] == pytest.approx(free["nll"], rel=1e-6)
    monkeypatch.setenv("LMLADDER_MEMORY_LIMIT", "1")
    assert score_rows(gru, 256) == 1  # never fewer than one row


# what each op computes for backward alone, skipped under no_grad; the other ops keep their inputs or what their
# forward computes anyway (a cell's gates, tanh's output). An op new to these models must be added here.
BACKWARD_ONLY = {
    "CrossEntropy": ("probs",),  # the normalised probabilities (the forward needs the log-sum-exp only)
    "LayerNorm": ("xhat", "rstd"),
    "RMSNorm": ("xhat", "rstd"),
    "GeluTanh": ("s",),
    "ReluSquared": ("r",),
    "CausalConv": ("xp",),  # the padded input (B, K-1+T, C)
    "ModernQKV": ("norms",),
    "AttentionQKV": ("saved",),  # the probabilities (B, H, T, T)
    **dict.fromkeys(("Linear", "Embedding", "Add", "GetItem", "Stack", "Reshape", "Tanh", "GRUCell", "LSTMCell"), ()),
}


def _ops_of_a_forward(model, x, graph: bool) -> list:
    """Every op instance a forward of model on x makes (with a graph, or under no_grad)."""
    made, originals = [], {}
    for cls in Function.registry.values():
        if "forward" in cls.__dict__:
            originals[cls] = f = cls.forward

            def spy(self, *a, _f=f, **k):
                made.append(self)
                return _f(self, *a, **k)

            cls.forward = spy
    try:
        with model.evaluating():
            if graph:
                model(x, x)
            else:
                with no_grad():
                    model(x, x)
    finally:
        for cls, f in originals.items():
            cls.forward = f
    return made


@pytest.mark.parametrize("name", ["gpt_modern", "gpt_nanogpt", "gru", "lstm", "mlp"])
def test_under_no_grad_no_op_computes_what_only_backward_reads(name):
    model = models(30)[name]
    x = np.random.default_rng(0).integers(0, 30, (3, 16))
    without = _ops_of_a_forward(model, x, graph=False)
    assert {type(op).__name__ for op in without} <= BACKWARD_ONLY.keys()
    for op in without:
        for slot in BACKWARD_ONLY[type(op).__name__]:
            assert getattr(op, slot, None) is None, f"{type(op).__name__}.{slot} kept under no_grad"
    for op in _ops_of_a_forward(model, x, graph=True):  # with a graph each is kept: the check above can fail
        for slot in BACKWARD_ONLY[type(op).__name__]:
            if not (slot == "norms" and not model.config.qk_norm):
                assert getattr(op, slot, None) is not None, f"{type(op).__name__}.{slot} not kept for backward"
