"""The recurrent rung: PyTorch parity of every cell (weights load 1:1 into torch.nn.RNN/GRU/LSTM), decoding with
the carried state, its init and its config errors. The shared contract (gradcheck, checkpoints, resume, sampling)
is tests/models/test_contract.py's."""

import math
import warnings

import numpy as np
import pytest

from lmladder.autograd import Tensor, gradcheck, no_grad
from lmladder.autograd import functional as F
from lmladder.inference import generate
from lmladder.models import ModelConfigError
from lmladder.models.rnn import RNN, RNNConfig

CELLS = ["rnn", "gru", "lstm"]


def rnn(cell, dtype=np.float64, seed=0, **kw):
    args = dict(cell=cell, vocab_size=11, n_embd=6, n_hidden=5, n_layer=2)
    return RNN(RNNConfig(**{**args, **kw}), rng=np.random.default_rng(seed), dtype=dtype)


@pytest.mark.parametrize("cell", CELLS)
def test_torch_gives_the_same_outputs_and_gradients(cell):
    """Every id of idx is distinct, so the embedding's gradient rows are the gradients w.r.t. the inputs."""
    torch = pytest.importorskip("torch")
    B, T, H = 3, 4, 5
    model = rnn(cell, vocab_size=B * T)
    r = np.random.default_rng(1)
    for p in model.parameters():  # off the init (zero start states, a tiny head) so every path carries signal
        p.data += 0.3 * r.standard_normal(p.shape)
    idx = r.permutation(B * T).reshape(B, T)
    targets = r.integers(0, B * T, (B, T))
    logits, loss = model(idx, targets)
    loss.backward()

    tt = lambda a: torch.tensor(a, dtype=torch.float64, requires_grad=True)  # noqa: E731
    wte = tt(model.wte.weight.data)
    net = {"rnn": torch.nn.RNN, "gru": torch.nn.GRU, "lstm": torch.nn.LSTM}[cell](
        6, H, num_layers=2, batch_first=True, dtype=torch.float64
    )
    with torch.no_grad():
        for k, layer in enumerate(model.layers):
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                getattr(net, f"{name}_l{k}").copy_(torch.from_numpy(getattr(layer, name).data))
    start = tt(np.stack([layer.start.data for layer in model.layers]))  # (L, 1, S): h0 (and c0) of torch
    h0 = start.expand(2, B, start.shape[-1])
    state = (h0[..., :H], h0[..., H:]) if cell == "lstm" else h0
    head_w, head_b = tt(model.head.weight.data), tt(model.head.bias.data)
    out, _ = net(wte[torch.from_numpy(idx)], state)  # (B, T, H)
    t_logits = out @ head_w.T + head_b
    t_loss = torch.nn.functional.cross_entropy(t_logits.reshape(B * T, -1), torch.from_numpy(targets).reshape(-1))
    t_loss.backward()

    close = lambda a, b: np.testing.assert_allclose(a, b.detach().numpy(), rtol=1e-10, atol=1e-10)  # noqa: E731
    close(logits.data, t_logits)
    close(loss.data, t_loss)
    close(model.wte.weight.grad, wte.grad)  # = the inputs' gradients, one distinct row per position
    close(model.head.weight.grad, head_w.grad)
    close(model.head.bias.grad, head_b.grad)
    for k, layer in enumerate(model.layers):
        close(layer.start.grad, start.grad[k])
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            close(getattr(layer, name).grad, getattr(net, f"{name}_l{k}").grad)


@pytest.mark.parametrize("cell", CELLS)
def test_decoding_with_the_carried_state_equals_decoding_from_scratch(cell):
    model = rnn(cell, np.float32, n_hidden=16, n_embd=8)
    prompt = np.array([[1, 2, 3], [4, 5, 6]])
    for kw in (dict(temperature=0), dict(temperature=1.0), dict(top_k=3), dict(top_p=0.9)):
        a = generate(model, prompt, 30, rng=np.random.default_rng(0), use_cache=True, **kw)
        b = generate(model, prompt, 30, rng=np.random.default_rng(0), use_cache=False, **kw)
        assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True)), kw


@pytest.mark.parametrize("cell", CELLS)
def test_the_state_cache_continues_the_sequence(cell):
    model = rnn(cell)
    x = np.random.default_rng(2).integers(0, 11, (2, 7))
    with no_grad():
        full = model(x)[0].data
        cache = model.new_cache(2)
        parts = [model(x[:, :4], cache=cache)[0].data]  # a prompt, then one token at a time
        parts += [model(x[:, t : t + 1], cache=cache)[0].data for t in (4, 5, 6)]
    np.testing.assert_allclose(np.concatenate(parts, axis=1), full, rtol=1e-12, atol=1e-12)
    with pytest.raises(ModelConfigError, match="wrap the call in no_grad"):
        model(x, cache=model.new_cache(2))


@pytest.mark.parametrize("cell", CELLS)
def test_initial_loss_is_log_vocab(cell):
    model = rnn(cell, np.float32, vocab_size=27, n_embd=16, n_hidden=32)
    r = np.random.default_rng(1)
    _, loss = model(r.integers(0, 27, (16, 10)), r.integers(0, 27, (16, 10)))
    assert abs(loss.item() - math.log(27)) < 0.05


def test_lstm_forget_gate_starts_at_forget_bias():
    model = rnn("lstm", lstm=dict(forget_bias=1.5))
    for layer in model.layers:  # gates i, f, g, o: the forget gate's two biases sum to lstm.forget_bias
        np.testing.assert_array_equal(layer.bias_ih.data[5:10] + layer.bias_hh.data[5:10], 1.5)


@pytest.mark.parametrize(
    "kw,msg",
    [
        (dict(cell="foo"), "cell='foo'; choose one of rnn, gru, lstm"),
        (dict(n_layer=0), "n_layer=0 must be a positive integer"),
        (dict(dropout=1.0), r"dropout=1.0 must be in \[0, 1\)"),
        (dict(lstm=dict(forget_bias=float("nan"))), "lstm.forget_bias=nan must be a finite number"),
    ],
)
def test_bad_configs_name_the_field(kw, msg):
    with pytest.raises(ModelConfigError, match=msg):
        RNNConfig(**kw).check()


@pytest.mark.parametrize("cell", CELLS)
def test_saturated_gates_stay_finite_and_quiet(cell):
    """Pre-activations of +-1000 (exp overflows in float32): the gates are exactly 0 or 1, with no warning."""
    gates, width = {"rnn": (1, 1), "gru": (3, 1), "lstm": (4, 2)}[cell]
    step = {"rnn": F.rnn_cell, "gru": F.gru_cell, "lstm": F.lstm_cell}[cell]
    xg = np.tile(np.float32([1000.0, -1000.0]), (2, 2 * gates))  # (2, 4 * gates): H = 4
    s = Tensor(np.ones((2, 4 * width), np.float32), requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = step(xg, s, np.zeros((4 * gates, 4), np.float32), np.zeros(4 * gates, np.float32))
        out.backward(np.ones(out.shape, np.float32))
    assert np.isfinite(out.data).all() and np.isfinite(s.grad).all()


@pytest.mark.parametrize("cell", ["rnn", "lstm"])  # the GRU, the default cell, is the contract test's
def test_gradcheck_of_the_other_cells(cell):
    model = rnn(cell)
    r = np.random.default_rng(3)
    for p in model.parameters():
        p.data += 0.2 * r.standard_normal(p.shape)
    x, y = r.integers(0, 11, (2, 4)), r.integers(0, 11, (2, 4))
    assert gradcheck(lambda: model(x, y)[1], [], params=model.parameters(), name=cell, atol=1e-5)
