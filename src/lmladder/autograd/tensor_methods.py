"""Operators and methods on `Tensor`, attached here so engine.py stays free of op imports."""

from __future__ import annotations

from . import functional as F
from . import ops_elementwise as E
from . import ops_reduce as R
from . import ops_shape as S
from .engine import Tensor
from .ops_elementwise import as_tensor


def _rsub(self, other):
    return E.sub(as_tensor(other, self), self)


def _rdiv(self, other):
    return E.div(as_tensor(other, self), self)


def _rmatmul(self, other):
    return R.matmul(as_tensor(other, self), self)


_METHODS = {
    "__add__": E.add,
    "__radd__": E.add,
    "__sub__": E.sub,
    "__rsub__": _rsub,
    "__mul__": E.mul,
    "__rmul__": E.mul,
    "__truediv__": E.div,
    "__rtruediv__": _rdiv,
    "__neg__": E.neg,
    "__pow__": E.pow,
    "__matmul__": R.matmul,
    "__rmatmul__": _rmatmul,
    "__getitem__": S.getitem,
    "exp": E.exp,
    "log": E.log,
    "tanh": E.tanh,
    "relu": E.relu,
    "sigmoid": E.sigmoid,
    "sum": R.sum,
    "mean": R.mean,
    "max": R.max,
    "reshape": S.reshape,
    "permute": S.permute,
    "transpose": S.transpose,
    "masked_fill": S.masked_fill,
    "softmax": F.softmax,
    "log_softmax": F.log_softmax,
}
for _name, _fn in _METHODS.items():
    setattr(Tensor, _name, _fn)
Tensor.T = property(lambda self: S.transpose(self))
