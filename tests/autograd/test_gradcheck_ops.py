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


def test_a_sampled_gradcheck_checks_the_ends_and_passes_a_right_backward():
    """`elements` differences a few entries of each tensor, always its first and last (where off-by-one bugs sit)."""
    import numpy as np

    from lmladder.autograd import GradcheckError

    class EndsWrong(Function):
        __slots__ = ("x", "broken")
        differentiable = False  # a deliberately broken op; excluded from the registry check

        def forward(self, x, broken):
            self.x, self.broken = x, broken
            return x * x

        def backward(self, g):
            dx = 2 * g * self.x
            if self.broken:
                dx.reshape(-1)[-1] = 0.0  # wrong in the last entry only
            return (dx,)

    x = np.linspace(0.5, 1.5, 60).reshape(6, 10)
    try:
        assert gradcheck(lambda a: EndsWrong.apply(a, broken=False), [x], elements=3, name="EndsWrong")
        with pytest.raises(GradcheckError, match=r"analytic \(backward\):\n\[[^\n]*\]\nnumeric"):  # 3 entries
            gradcheck(lambda a: EndsWrong.apply(a, broken=True), [x], elements=3, name="EndsWrong")
    finally:
        Function.registry.pop("EndsWrong")
