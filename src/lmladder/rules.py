"""Every config field's valid values, declared next to the field, and the one checker all configs run.

    lr: float = number(1e-3, above=0)               # a finite number > 0
    n_layer: int = integer(4, low=1)                # a positive integer
    norm: str = choice("layernorm", NORMS)
    decay_iters: int | None = integer(None, low=1, null="(default: max_iters)")

`check_fields(config, Error)` tests each field against its rule and raises Error("name=value must be ...") for the
first that breaks it, so a bad value fails before any work starts. Rules between fields (min_lr <= lr, n_embd a
multiple of n_head) stay in the config's own check(), after this one.

A feature's own settings are a small dataclass of its own, nested as one field of its owner: a `block` (optim.muon,
optim.schedule.wsd, model.lookback.smear). `nest(config)` in the owner's __post_init__ turns a block given as a mapping
(a checkpoint's stored fields) into its class; `check_groups(config, Error)` runs each block's own check(), its
messages naming the block's fields by their path ("lookback.conv=1"). Where a choice decides which of its owner's
settings are read (the optimizer's name, the schedule's), the owner says which in a table and `check_used` holds the
one rule between them: a setting the choice in force does not read stays at its default, else it is refused in one
line (it would change nothing).
"""

from __future__ import annotations

import math
from collections.abc import Container, Mapping
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any

import numpy as np

from .errors import LmladderError, reworded


class SettingsError(LmladderError, ValueError):
    """A setting is out of range, or set where nothing reads it; the message names it and the fix."""


@dataclass(frozen=True)
class Rule:
    kind: str  # integer | number | choice | flag
    low: float | None = None
    high: float | None = None
    open_low: bool = False  # low itself is excluded
    open_high: bool = False
    options: tuple = ()
    null: str | None = None  # None: null is invalid; else what null means, said after "or null" ("" for nothing)
    note: str = ""

    def holds(self, v: Any) -> bool:
        if v is None:
            return self.null is not None
        if self.kind == "flag":
            return isinstance(v, bool | np.bool_)
        if self.kind == "choice":
            return isinstance(v, str) and v in self.options
        if isinstance(v, bool | np.bool_) or not isinstance(v, int | float | np.integer | np.floating):
            return False
        if self.kind == "integer" and not isinstance(v, int | np.integer):
            return False
        if not math.isfinite(v):
            return False
        low_ok = self.low is None or (v > self.low if self.open_low else v >= self.low)
        return low_ok and (self.high is None or (v < self.high if self.open_high else v <= self.high))

    def wanted(self) -> str:
        """What a valid value is, in words: "must be a finite number > 0", "choose one of a, b"."""
        if self.kind == "flag":
            text = "must be true or false"
        elif self.kind == "choice":
            text = f"choose one of {', '.join(self.options)}"
        elif self.kind == "integer" and self.low == 1 and self.high is None:
            text = "must be a positive integer"
        else:
            what = "an integer" if self.kind == "integer" else "a finite number"
            if self.low is not None and self.high is not None:  # a number in a closed range is finite anyway
                what = "an integer" if self.kind == "integer" else ""
                brackets = "(" if self.open_low else "[", ")" if self.open_high else "]"
                bounds = f"in {brackets[0]}{self.low:g}, {self.high:g}{brackets[1]}"
            elif self.low is not None:
                bounds = f"{'>' if self.open_low else '>='} {self.low:g}"
            elif self.high is not None:
                bounds = f"{'<' if self.open_high else '<='} {self.high:g}"
            else:
                bounds = ""
            text = " ".join(w for w in ("must be", what, bounds) if w)
        if self.null is not None:
            text += f", or null {self.null}".rstrip()
        return text + (f" ({self.note})" if self.note else "")


def _field(default: Any, rule: Rule) -> Any:
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata={"rule": rule})
    return field(default=default, metadata={"rule": rule})


def integer(default, *, low=None, high=None, null: str | None = None, note: str = "") -> Any:
    return _field(default, Rule("integer", low, high, null=null, note=note))


def number(default, *, low=None, high=None, above=None, below=None, null: str | None = None, note: str = "") -> Any:
    """A finite number; `low`/`high` are inclusive bounds, `above`/`below` exclusive ones."""
    lo, hi = (above, True) if above is not None else (low, False), (below, True) if below is not None else (high, False)
    return _field(default, Rule("number", lo[0], hi[0], lo[1], hi[1], null=null, note=note))


def choice(default: str, options, *, note: str = "") -> Any:
    return _field(default, Rule("choice", options=tuple(options), note=note))


def flag(default: bool) -> Any:
    return _field(default, Rule("flag"))


def block(settings: type) -> Any:
    """A field holding a feature's own settings (a dataclass), at that class's defaults unless given."""
    return field(default_factory=settings)


def check_fields(config: Any, error: type[Exception]) -> None:
    """Raise `error` naming the first field of `config` whose value breaks the rule declared beside it."""
    for f in fields(config):
        rule = f.metadata.get("rule")
        v = getattr(config, f.name)
        if rule is not None and not rule.holds(v):
            shown = str(v)[:40] if isinstance(v, str) else v
            sep = ";" if rule.kind == "choice" else ""
            raise error(f"{f.name}={shown!r}{sep} {rule.wanted()}")


def groups(config: Any) -> list[tuple[str, type]]:
    """(name, class) of each field of `config` that holds a block: a settings dataclass made by its default_factory."""
    return [(f.name, f.default_factory) for f in fields(config) if is_dataclass(f.default_factory)]


def nest(config: Any) -> None:
    """Each group of `config` given as a mapping (a checkpoint's stored fields, dataclasses.asdict's output) becomes
    its class: Config(**asdict(config)) rebuilds config. Call it in the config's __post_init__."""
    for name, cls in groups(config):
        if isinstance(value := getattr(config, name), Mapping):
            setattr(config, name, cls(**value))


def check_groups(config: Any, error: type[Exception]) -> None:
    """Run each group's own check(), naming the group's fields in its messages by their path from `config`."""
    for name, cls in groups(config):
        part = getattr(config, name)
        if not isinstance(part, cls):
            keys = ", ".join(f.name for f in fields(cls))
            raise error(f"{name}={part!r:.40} must be a map of {keys}")
        try:
            part.check()
        except LmladderError as e:
            raise error(reworded(e, paths(part, f"{name}."))) from e


def paths(settings: Any, prefix: str = "") -> dict[str, str]:
    """{name: prefix + name} for each field of a settings dataclass, a nested group's fields by their dotted path
    too ("ngram.order": prefix + "ngram.order"): how a message names each of them, from `prefix` down."""
    out = {}
    for f in fields(settings):
        out[f.name] = prefix + f.name
        if is_dataclass(part := getattr(settings, f.name)):
            out |= {f"{f.name}.{k}": v for k, v in paths(part, f"{prefix}{f.name}.").items()}
    return out


def check_used(settings: Any, choice: str, used_by: Mapping[str, Container], error: type[Exception]) -> None:
    """Raise `error` for the fields of `settings` that the value of its field `choice` does not read (used_by: field
    -> the choices that read it) and that are set away from their defaults: there they would change nothing. Named
    together when the same choices read them; a block by its first such field, dotted (muon.lr=0.03)."""
    chosen, defaults = getattr(settings, choice), type(settings)()
    unread = [(name, readers) for name, readers in used_by.items() if chosen not in readers]
    changes = [(c, readers) for name, readers in unread if (c := _first_change(name, settings, defaults))]
    if not changes:
        return
    same = [c for c, readers in changes if readers == changes[0][1]]
    which = f"{choice}={_alternatives(changes[0][1])}"
    given = ", ".join(f"{key}={value!r}" for key, value, _ in same)
    were = ", ".join(repr(default) for _, _, default in same)
    one = len(same) == 1
    raise error(
        f"{given} {'is' if one else 'are'} read with {which} only, and {choice}={chosen!r}: {'it' if one else 'they'} "
        f"would change nothing; set {which}, or leave {'it at its default' if one else 'them at their defaults'} "
        f"({were})"
    )


def _first_change(name: str, settings: Any, defaults: Any) -> tuple[str, Any, Any] | None:
    """(dotted key, value, default) of the field `name` of `settings` where it differs from `defaults`, the first
    such field inside it for a block; None where it does not."""
    value, default = getattr(settings, name), getattr(defaults, name)
    if value == default:
        return None
    if is_dataclass(value) and type(value) is type(default):
        inner = (_first_change(f.name, value, default) for f in fields(value))
        key, value, default = next(c for c in inner if c is not None)
        return f"{name}.{key}", value, default
    return name, value, default


def _alternatives(readers: Container) -> str:
    """The choices that read a field, in words: muon; adam, adamw or muon; 1..10 (a range)."""
    if isinstance(readers, range):
        return f"{readers.start}..{readers.stop - 1}"
    *rest, last = readers
    return f"{', '.join(map(str, rest))} or {last}" if rest else str(last)
