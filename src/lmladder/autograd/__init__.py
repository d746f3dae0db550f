"""lmladder's reverse-mode automatic differentiation on NumPy.

from lmladder.autograd import Tensor, no_grad
x = Tensor(np.ones((2, 3)), requires_grad=True)
(x * x).sum().backward()      # x.grad == 2 * x.data
"""

from . import functional, tensor_methods  # noqa: F401  (tensor_methods attaches operators to Tensor)
from .engine import AutogradError, Function, Tensor, is_grad_enabled, no_grad
from .gradcheck import GradcheckError, gradcheck
from .gradients import unbroadcast
from .ops_elementwise import add, as_tensor, div, erf, exp, log, mul, neg, relu, sigmoid, sub, tanh
from .ops_elementwise import pow as pow_  # noqa: F401
from .ops_reduce import matmul, max, mean, sum
from .ops_shape import concat, getitem, masked_fill, permute, reshape, stack, transpose, where

__all__ = [
    "AutogradError",
    "Function",
    "Tensor",
    "is_grad_enabled",
    "no_grad",
    "unbroadcast",
    "GradcheckError",
    "gradcheck",
    "functional",
    "add",
    "as_tensor",
    "div",
    "erf",
    "exp",
    "log",
    "mul",
    "neg",
    "relu",
    "sigmoid",
    "sub",
    "tanh",
    "pow_",
    "matmul",
    "max",
    "mean",
    "sum",
    "concat",
    "getitem",
    "masked_fill",
    "permute",
    "reshape",
    "stack",
    "transpose",
    "where",
]
