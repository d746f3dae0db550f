"""The root of every user-facing lmladder error. Entry points print these as one line (no traceback) and exit
non-zero; anything else is a bug and keeps its traceback."""

from __future__ import annotations

import re
from collections.abc import Mapping


class LmladderError(Exception):
    """Mixed into each module's error class (DataError, CheckpointError, ...).

    The library names its own parameters in messages, as `name=value` or `name <= bound`; `params` lists the names
    a message is about, so an entry point can say them in its own words (the stages: config keys such as
    transformer.model.block_size; see `reworded`)."""

    def __init__(self, *args, params: tuple[str, ...] = ()):
        super().__init__(*args)
        self.params = tuple(params)


def reworded(error: Exception, names: Mapping[str, str]) -> str:
    """`error`'s message with each of its params that `names` knows written as names[param]:
    "block_size=16" -> "transformer.model.block_size=16" (only where followed by =, <, >, so prose stays)."""
    message = str(error)
    for param in getattr(error, "params", ()):
        if param in names:
            message = re.sub(rf"(?<![\w.]){re.escape(param)}(?=\s?[=<>!])", names[param], message)
    return message
