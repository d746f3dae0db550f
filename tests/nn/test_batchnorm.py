"""BatchNorm1d: train-mode gradients, the running statistics (PyTorch's rule), evaluation, masks, and buffers in the
module state (so checkpoints carry them and optimizers never see them)."""

import numpy as np
import pytest

from lmladder import nn
from lmladder.autograd import AutogradError, Tensor, gradcheck, no_grad

F64 = np.float64


def rng(seed=0):
    return np.random.default_rng(seed)


def off_init(bn: nn.BatchNorm1d) -> nn.BatchNorm1d:
    bn.weight.data += 0.3 * rng(9).standard_normal(bn.weight.shape)
    bn.bias.data += 0.3 * rng(8).standard_normal(bn.bias.shape)
    return bn


@pytest.mark.parametrize("shape", [(5, 3), (2, 4, 3)])
def test_train_mode_gradcheck(shape):
    bn = off_init(nn.BatchNorm1d(3, dtype=F64))
    assert gradcheck(lambda x: bn(x), [rng(1).standard_normal(shape)], params=bn.parameters(), name="BatchNorm1d")


def test_masked_train_mode_gradcheck_and_statistics_of_the_picked_rows_only():
    bn = off_init(nn.BatchNorm1d(3, dtype=F64))
    x = rng(2).standard_normal((2, 4, 3))
    mask = np.array([[True, True, True, False], [True, False, False, False]])
    assert gradcheck(lambda x: bn(x, mask), [x], params=bn.parameters(), name="BatchNorm1d masked")
    with no_grad():
        y = bn(Tensor(x), mask).data
        x_pad = x.copy()
        x_pad[~mask] = 1e3  # padding rows change nothing the picked rows see
        np.testing.assert_allclose(bn(Tensor(x_pad), mask).data[mask], y[mask], rtol=1e-12)
    picked = x[mask]
    np.testing.assert_allclose(y[mask], (picked - picked.mean(0)) / np.sqrt(picked.var(0) + 1e-5) * bn.weight.data
                               + bn.bias.data, rtol=1e-10)  # fmt: skip


def test_eval_is_the_affine_map_of_the_running_statistics():
    bn = off_init(nn.BatchNorm1d(4, dtype=F64))
    bn.running_mean[...] = rng(3).standard_normal(4)
    bn.running_var[...] = rng(4).uniform(0.5, 2, 4)
    x = rng(5).standard_normal((3, 2, 4))
    rm, rv = bn.running_mean.copy(), bn.running_var.copy()
    bn.eval()
    y = bn(Tensor(x)).data
    np.testing.assert_allclose(y, (x - rm) / np.sqrt(rv + 1e-5) * bn.weight.data + bn.bias.data, rtol=1e-12)
    assert np.array_equal(bn.running_mean, rm) and np.array_equal(bn.running_var, rv)  # evaluation learns nothing
    assert gradcheck(lambda x: bn(x), [x], params=bn.parameters(), name="BatchNorm1d eval")


def test_a_training_forward_without_target_rows_uses_the_running_statistics():
    bn = off_init(nn.BatchNorm1d(2, dtype=F64))
    x = rng(6).standard_normal((2, 3, 2))
    y = bn(Tensor(x), np.zeros((2, 3), bool)).data
    assert np.array_equal(bn.running_mean, [0, 0]) and np.array_equal(bn.running_var, [1, 1])
    np.testing.assert_allclose(y, x / np.sqrt(1 + 1e-5) * bn.weight.data + bn.bias.data, rtol=1e-12)


def test_running_statistics_follow_pytorchs_documented_rule():
    """running = (1 - momentum) * running + momentum * batch statistic, the variance unbiased (torch.nn.BatchNorm1d)."""
    bn = nn.BatchNorm1d(3, dtype=F64)
    rm, rv = np.zeros(3), np.ones(3)
    for step in range(3):
        x = rng(step).standard_normal((2, 4, 3)) * 2 + 1
        bn(Tensor(x))
        rows = x.reshape(-1, 3)
        rm = 0.9 * rm + 0.1 * rows.mean(0)
        rv = 0.9 * rv + 0.1 * rows.var(0, ddof=1)
    np.testing.assert_allclose(bn.running_mean, rm, rtol=1e-12)
    np.testing.assert_allclose(bn.running_var, rv, rtol=1e-12)


def test_running_statistics_match_torch():
    torch = pytest.importorskip("torch")
    ours = nn.BatchNorm1d(5, dtype=np.float32)
    ref = torch.nn.BatchNorm1d(5)  # momentum 0.1, eps 1e-5, unbiased running variance
    for step in range(4):
        x = (rng(step).standard_normal((7, 5)) * 3 + 2).astype(np.float32)
        y = ours(Tensor(x)).data
        y_ref = ref(torch.from_numpy(x)).detach().numpy()
        np.testing.assert_allclose(y, y_ref, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(ours.running_mean, ref.running_mean.numpy(), rtol=1e-6)
    np.testing.assert_allclose(ours.running_var, ref.running_var.numpy(), rtol=1e-6)
    ours.eval(), ref.eval()
    x = rng(9).standard_normal((3, 5)).astype(np.float32)
    np.testing.assert_allclose(ours(Tensor(x)).data, ref(torch.from_numpy(x)).detach().numpy(), rtol=1e-5, atol=1e-6)


def test_one_row_in_training_is_refused_with_the_fix():
    bn = nn.BatchNorm1d(3)
    with pytest.raises(AutogradError, match=r"BatchNorm: training statistics need at least 2 rows, got 1 .*"
                                             r"use batch_size >= 2"):  # fmt: skip
        bn(Tensor(np.ones((1, 3), np.float32)))
    with pytest.raises(AutogradError, match="got 1"):  # one target row in a padded batch is one row too
        bn(Tensor(np.ones((2, 3), np.float32)), np.array([True, False]))
    bn.eval()
    assert bn(Tensor(np.ones((1, 3), np.float32))).shape == (1, 3)  # evaluation normalises any batch


def test_buffers_are_state_but_not_parameters():
    model = nn.Sequential(nn.Linear(3, 4, rng=rng()), nn.BatchNorm1d(4))
    assert [n for n, _ in model.named_buffers()] == ["1.running_mean", "1.running_var"]
    assert list(model.state_dict()) == ["0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean", "1.running_var"]
    assert model.num_parameters() == 3 * 4 + 4 + 4 + 4
    opt = nn.SGD(model.parameters(), lr=0.1)
    assert len(opt.params) == 4
    model(Tensor(rng(1).standard_normal((6, 3)).astype(np.float32)))
    other = nn.Sequential(nn.Linear(3, 4, rng=rng(5)), nn.BatchNorm1d(4))
    other.load_state_dict({k: v.copy() for k, v in model.state_dict().items()})
    for k, v in model.state_dict().items():
        assert np.array_equal(other.state_dict()[k], v), k
    running = model.state_dict()["1.running_var"]
    assert running is model[1].running_var  # live arrays: the layer updates them in place
    with pytest.raises(nn.StateDictError, match=r"missing keys \['1.running_mean'\]"):
        other.load_state_dict({k: v for k, v in model.state_dict().items() if k != "1.running_mean"})
