"""The one exception type for user-facing data problems (missing files, bad fractions, unknown characters...)."""

from ..errors import LmladderError


class DataError(LmladderError, ValueError):
    """A corpus, split, tokenizer or prepared-data problem; the one-line message names the problem and the fix."""
