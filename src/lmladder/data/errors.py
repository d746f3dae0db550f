"""The one exception type for user-facing data problems (missing files, bad fractions, unknown characters...)."""

from ..errors import LmladderError


class DataError(LmladderError, ValueError):
    """A corpus, split, tokenizer or prepared-data problem; the one-line message names the problem and the fix."""


class CorruptDataError(DataError):
    """A prepared file differs from the sha256 recorded when it was prepared: never fall back past it silently."""


class StaleDataError(DataError):
    """Prepared data from before manifest.json: nothing to verify it against, so it is prepared again."""
