"""Every registered primitive and every composite passes a float64 finite-difference gradient check."""

import pytest

from lmladder.autograd import Function, gradcheck
from lmladder.autograd import functional as F

from .op_cases import COMPOSITE_CASES, PRIMITIVE_CASES

PRIM = [(op, label, fn, inp) for op, cases in PRIMITIVE_CASES.items() for label, fn, inp in cases]
COMP = [(op, label, fn, inp) for op, cases in COMPOSITE_CASES.items() for label, fn, inp in cases]


@pytest.mark.parametrize("op,label,fn,inputs", PRIM, ids=[f"{c[0]}-{c[1]}" for c in PRIM])
def test_primitive_gradcheck(op, label, fn, inputs):
    assert gradcheck(fn, inputs, name=f"{op} [{label}]")


@pytest.mark.parametrize("op,label,fn,inputs", COMP, ids=[f"{c[0]}-{c[1]}" for c in COMP])
def test_composite_gradcheck(op, label, fn, inputs):
    assert gradcheck(fn, inputs, name=f"{op} [{label}]")


def test_every_registered_op_has_a_gradcheck_case():
    registered = {name for name, cls in Function.registry.items() if cls.differentiable}
    missing = sorted(registered - set(PRIMITIVE_CASES))
    assert not missing, f"ops with no gradcheck case in tests/autograd/op_cases.py: {missing}"
    unknown = sorted(set(PRIMITIVE_CASES) - set(Function.registry))
    assert not unknown, f"gradcheck cases for ops that are not registered: {unknown}"


def test_every_composite_has_a_gradcheck_case():
    composites = {name for name in dir(F) if name.endswith("_composite")}
    assert composites == set(COMPOSITE_CASES), composites ^ set(COMPOSITE_CASES)


def test_gradcheck_catches_a_wrong_backward():
    import numpy as np

    from lmladder.autograd import GradcheckError, Tensor

    class BadSquare(Function):
        __slots__ = ("x",)
        differentiable = False  # a deliberately broken op; excluded from the registry check

        def forward(self, x):
            self.x = x
            return x * x

        def backward(self, g):
            return (g * self.x,)  # wrong: missing the factor 2

    try:
        with pytest.raises(GradcheckError, match="analytic"):
            gradcheck(lambda a: BadSquare.apply(a), [np.ones((2, 2))], name="BadSquare")
    finally:
        Function.registry.pop("BadSquare")
    assert isinstance(Tensor, type)
