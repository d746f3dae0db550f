"""Layer-level gradient checks (float64) and the Module contract: names, state dicts, modes."""

import numpy as np
import pytest

from lmladder import nn
from lmladder.autograd import Tensor, gradcheck
from lmladder.autograd import functional as F

F64 = np.float64


def rng(seed=0):
    return np.random.default_rng(seed)


def check_layer(layer, *inputs):
    # perturb the layer's biases/gains away from 0/1 so every path carries signal
    for p in layer.parameters():
        p.data += 0.1 * rng(9).standard_normal(p.shape)
    assert gradcheck(lambda *xs: layer(*xs), list(inputs), params=layer.parameters(), name=type(layer).__name__)


def test_linear_gradcheck():
    check_layer(nn.Linear(4, 3, rng=rng(), dtype=F64), rng(1).standard_normal((2, 5, 4)))
    check_layer(nn.Linear(3, 3, bias=False, rng=rng(), dtype=F64), rng(1).standard_normal((3, 3)))


def test_embedding_gradcheck_with_repeated_ids():
    emb = nn.Embedding(5, 3, rng=rng(), dtype=F64)
    assert gradcheck(lambda: emb(np.array([[0, 4, 4], [4, 1, 0]])), [], params=emb.parameters())


def test_layernorm_and_rmsnorm_gradcheck():
    x = rng(2).standard_normal((2, 3, 6))
    check_layer(nn.LayerNorm(6, dtype=F64), x)
    check_layer(nn.LayerNorm(6, bias=False, dtype=F64), x)
    check_layer(nn.RMSNorm(6, dtype=F64), x)


def test_two_layer_mlp_end_to_end_gradcheck():
    r = rng(3)
    mlp = nn.Sequential(nn.Linear(4, 8, rng=r, dtype=F64), nn.Tanh(), nn.Linear(8, 3, rng=r, dtype=F64))
    x = r.standard_normal((5, 4))
    y = np.array([0, 2, 1, 1, 0])
    assert gradcheck(lambda xx: F.cross_entropy(mlp(xx), y), [x], params=mlp.parameters(), name="mlp")


class Net(nn.Module):
    def __init__(self):
        r = rng()
        self.emb = nn.Embedding(4, 3, rng=r)
        self.blocks = nn.ModuleList([nn.Linear(3, 3, rng=r), nn.Linear(3, 3, bias=False, rng=r)])
        self.norm = nn.LayerNorm(3)
        self.head = nn.Linear(3, 4, bias=False, rng=r)
        self.head.weight = self.emb.weight  # tied
        self.drop = nn.Dropout(0.5, rng=r)


def test_named_parameters_are_stable_dotted_and_dedupe_tied_weights():
    names = [n for n, _ in Net().named_parameters()]
    assert names == ["emb.weight", "blocks.0.weight", "blocks.0.bias", "blocks.1.weight", "norm.weight", "norm.bias"]
    assert Net().num_parameters() == 12 + 12 + 9 + 3 + 3


def test_state_dict_roundtrip_and_strict_errors():
    a, b = Net(), Net()
    for p in b.parameters():
        p.data += 1
    a.load_state_dict({k: v.copy() for k, v in b.state_dict().items()})
    for (_, pa), (_, pb) in zip(a.named_parameters(), b.named_parameters(), strict=True):
        np.testing.assert_array_equal(pa.data, pb.data)
    sd = dict(b.state_dict())
    sd.pop("norm.bias")
    sd["extra.weight"] = np.zeros(2)
    with pytest.raises(nn.StateDictError, match=r"missing keys \['norm.bias'\].*unexpected keys \['extra.weight'\]"):
        a.load_state_dict(sd)
    sd = dict(b.state_dict())
    sd["emb.weight"] = np.zeros((5, 3))
    with pytest.raises(nn.StateDictError, match=r"emb.weight: checkpoint \(5, 3\) vs model \(4, 3\)"):
        a.load_state_dict(sd)


def test_train_eval_toggles_every_submodule_and_dropout():
    net = Net()
    x = Tensor(np.ones((4, 8), dtype=np.float32))
    assert (net.drop(x).data == 0).any()
    net.eval()
    assert all(not m.training for m in net.modules())
    np.testing.assert_array_equal(net.drop(x).data, x.data)
    net.train()
    assert all(m.training for m in net.modules())


def test_zero_grad_clears():
    net = nn.Linear(2, 2, rng=rng())
    net(Tensor(np.ones((1, 2), dtype=np.float32))).sum().backward()
    assert net.weight.grad is not None
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())


def test_init_helpers_use_the_given_generator_only():
    a = nn.init.kaiming_normal(rng(5), (200, 100), gain=nn.init.calculate_gain("tanh"))
    b = nn.init.kaiming_normal(rng(5), (200, 100), gain=nn.init.calculate_gain("tanh"))
    np.testing.assert_array_equal(a, b)
    assert abs(a.std() - (5 / 3) / 10) < 0.01
    assert a.dtype == np.float32
