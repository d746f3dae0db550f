"""The declared field rules (lmladder.rules): what each accepts, and the one-line message that names the field."""

import math
from dataclasses import asdict, dataclass, field

import numpy as np
import pytest

from lmladder.errors import LmladderError
from lmladder.rules import check_fields, check_groups, choice, flag, integer, nest, number, paths


@dataclass
class Example:
    size: int = integer(4, low=1)
    count: int = integer(0, low=0)
    rate: float = number(1e-3, above=0)
    frac: float = number(0.0, low=0, below=1, note="0 turns it off")
    clip: float | None = number(1.0, low=0, null="(0 or null disables it)")
    kind: str = choice("a", ("a", "b"))
    on: bool = flag(True)


@pytest.mark.parametrize(
    "changes, message",
    [
        (dict(size=0), "size=0 must be a positive integer"),
        (dict(size=True), "size=True must be a positive integer"),  # a bool is no size
        (dict(size=2.0), "size=2.0 must be a positive integer"),
        (dict(count=-1), "count=-1 must be an integer >= 0"),
        (dict(rate=math.inf), "rate=inf must be a finite number > 0"),
        (dict(rate=math.nan), "rate=nan must be a finite number > 0"),
        (dict(rate=0), "rate=0 must be a finite number > 0"),
        (dict(frac=1.0), "frac=1.0 must be in [0, 1) (0 turns it off)"),
        (dict(clip=-1.0), "clip=-1.0 must be a finite number >= 0, or null (0 or null disables it)"),
        (dict(kind="c"), "kind='c'; choose one of a, b"),
        (dict(on="yes"), "on='yes' must be true or false"),
    ],
)
def test_a_broken_rule_names_the_field_and_what_it_must_be(changes, message):
    with pytest.raises(ValueError) as e:
        check_fields(Example(**changes), ValueError)
    assert str(e.value) == message


def test_valid_values_pass_numpy_scalars_included():
    check_fields(Example(), ValueError)
    check_fields(Example(size=np.int64(3), rate=np.float32(0.5), clip=None, kind="b", on=False), ValueError)


class GroupError(LmladderError, ValueError):
    pass


@dataclass
class Inner:
    depth: int = integer(1, low=1)

    def check(self):
        check_fields(self, GroupError)
        if self.depth == 3:
            raise GroupError("depth=3 is unlucky; set depth > 3")


@dataclass
class Middle:
    inner: Inner = field(default_factory=Inner)
    width: int = integer(2, low=0)

    def __post_init__(self):
        nest(self)

    def check(self):
        check_fields(self, GroupError)
        check_groups(self, GroupError)


@dataclass
class Outer:
    middle: Middle = field(default_factory=Middle)
    size: int = integer(4, low=1)

    def __post_init__(self):
        nest(self)

    def check(self):
        check_fields(self, GroupError)
        check_groups(self, GroupError)


def test_a_group_given_as_a_mapping_becomes_its_class_and_asdict_round_trips():
    o = Outer(middle={"inner": {"depth": 5}, "width": 0})
    assert o.middle == Middle(Inner(5), 0) and Outer(**asdict(o)) == o


@pytest.mark.parametrize(
    "outer, message",
    [
        (Outer(middle={"inner": {"depth": 0}}), "middle.inner.depth=0 must be a positive integer"),
        (Outer(middle={"inner": {"depth": 3}}), "middle.inner.depth=3 is unlucky; set middle.inner.depth > 3"),
        (Outer(middle={"width": -1}), "middle.width=-1 must be an integer >= 0"),
        (Outer(middle=7), "middle=7 must be a map of inner, width"),
    ],
)
def test_a_groups_own_check_names_its_fields_by_their_path(outer, message):
    with pytest.raises(GroupError) as e:
        outer.check()
    assert str(e.value) == message


def test_paths_name_every_field_a_group_included():
    assert paths(Outer(), "a.") == {
        "middle": "a.middle", "middle.inner": "a.middle.inner", "middle.inner.depth": "a.middle.inner.depth",
        "middle.width": "a.middle.width", "size": "a.size",
    }  # fmt: skip
