"""The WaveNet (Zero-to-Hero part 5) and makemore's bag of words: sizes, refusals, padding-blind BatchNorm
statistics, causality. The shared contract (gradients, checkpoints, resume, sampling): tests/models/test_contract.py."""

import numpy as np
import pytest

from lmladder.autograd import Tensor, no_grad
from lmladder.autograd import functional as F
from lmladder.data.batching import IGNORE_INDEX
from lmladder.models import ModelConfigError, build_model
from lmladder.models.wavenet import WaveNetConfig


def rng(seed=0):
    return np.random.default_rng(seed)


def test_wavenet_has_zero_to_heros_76579_parameters():
    model = build_model("wavenet", vocab_size=27, rng=rng())  # context 8, n_embd 24, n_hidden 128
    assert model.num_parameters() == 76_579
    assert len(model.levels) == 3 and len(list(model.named_buffers())) == 6  # log2(8) levels, 2 statistics each
    x = rng(1).integers(0, 27, (4, 9))
    with no_grad():
        logits, loss = model(x, x)
    assert logits.shape == (4, 9, 27) and abs(loss.item() - np.log(27)) < 0.1  # a near-uniform first guess


@pytest.mark.parametrize("context", [3, 6, 1, 12])
def test_wavenet_context_must_be_a_power_of_two(context):
    with pytest.raises(ModelConfigError, match=rf"context={context} must be a power of two >= 2"):
        WaveNetConfig(context=context).check()


def test_wavenet_sees_exactly_its_window():
    model = build_model("wavenet", vocab_size=7, context=4, n_embd=4, n_hidden=8, rng=rng(), dtype=np.float64)
    model.eval()
    x = rng(2).integers(1, 7, (1, 10))
    y = x.copy()
    y[0, 3] = 0  # 4 positions before position 7
    with no_grad():
        a, b = model(x)[0].data, model(y)[0].data
    assert np.array_equal(a[0, :3], b[0, :3]) and not np.allclose(a[0, 3:7], b[0, 3:7])
    np.testing.assert_array_equal(a[0, 7:], b[0, 7:])


def test_wavenet_batch_statistics_ignore_padding():
    """A padded batch trains as its scored positions alone would: same loss, same gradients, same running stats."""
    x = rng(3).integers(1, 7, (3, 6))
    y = rng(4).integers(0, 7, (3, 6))
    y[0, 4:], y[2, 2:] = IGNORE_INDEX, IGNORE_INDEX  # two names shorter than the batch
    results = []
    for pad_token in (0, 5):
        model = build_model("wavenet", vocab_size=7, context=4, n_embd=4, n_hidden=8, rng=rng(), dtype=np.float64)
        xp = x.copy()
        xp[y == IGNORE_INDEX] = pad_token  # what the padding holds must not matter
        loss = model(xp, y)[1]
        loss.backward()
        results.append((loss.item(), [p.grad.copy() for p in model.parameters()], model.state_dict()))
    (l0, g0, s0), (l1, g1, s1) = results
    assert l0 == pytest.approx(l1, rel=1e-12)
    for a, b in zip(g0, g1, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
    for k in s0:
        np.testing.assert_allclose(s0[k], s1[k], rtol=1e-12, err_msg=k)


def test_bow_is_causal_and_its_average_is_makemores():
    model = build_model("bow", vocab_size=7, block_size=8, n_embd=8, n_hidden=8, rng=rng())
    x = rng(5).integers(0, 7, (2, 8))
    y = x.copy()
    y[:, 5] = (y[:, 5] + 1) % 7
    with no_grad():
        a, b = model(x)[0].data, model(y)[0].data
    np.testing.assert_array_equal(a[:, :5], b[:, :5])
    assert not np.allclose(a[:, 5:], b[:, 5:])
    h = rng(6).standard_normal((2, 5, 3))
    weights = np.tril(np.ones((5, 5))) / np.arange(1, 6)[:, None]  # makemore: softmax of a causal mask of zeros
    np.testing.assert_allclose(F.causal_mean(Tensor(h), axis=1).data, weights @ h, rtol=1e-12)


def test_bow_refuses_an_empty_block():
    with pytest.raises(ModelConfigError, match="block_size=0 must be a positive integer"):
        build_model("bow", vocab_size=7, block_size=0, rng=rng())
