"""lmladder's reverse-mode automatic differentiation on NumPy.

from lmladder.autograd import Tensor, no_grad
x = Tensor(np.ones((2, 3)), requires_grad=True)
(x * x).sum().backward()      # x.grad == 2 * x.data

The ops are Tensor's methods and operators (tensor_methods.py) and `functional`'s layers; each primitive lives in
its ops_*.py module.
"""

from . import functional, tensor_methods  # noqa: F401  (tensor_methods attaches operators to Tensor)
from .engine import AutogradError, Function, Tensor, is_grad_enabled, no_grad
from .gradcheck import GradcheckError, gradcheck
from .gradients import unbroadcast
from .ops_elementwise import as_tensor
from .ops_shape import concat, getitem, stack

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
    "as_tensor",
    "concat",
    "getitem",
    "stack",
]
