"""The root of every user-facing lmladder error. Entry points print these as one line (no traceback) and exit
non-zero; anything else is a bug and keeps its traceback."""

from __future__ import annotations

import re
from collections.abc import Mapping


class LmladderError(Exception):
    """Mixed into each module's error class (DataError, CheckpointError, ...).

    The library names its own parameters in messages, always as `name=value` (or `name <= bound`), so an entry
    point can say them in its own words: the stages as config keys (transformer.model.block_size), see `reworded`."""


def reworded(error: Exception, names: Mapping[str, str]) -> str:
    """`error`'s message with every parameter that `names` knows, where written as `name=` (or followed by < or >),
    said as names[name]: "block_size=16" -> "transformer.model.block_size=16". Prose and paths stay as they are."""
    if not names:
        return str(error)
    words = "|".join(sorted(map(re.escape, names), key=len, reverse=True))
    return re.sub(rf"(?<![\w./-])({words})(?=\s?[=<>])", lambda m: names[m.group(1)], str(error))
