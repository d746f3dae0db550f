"""The one error class of lmladder.export."""

from ..errors import LmladderError


class ExportError(LmladderError, ValueError):
    """A model, tokenizer or output path that an export format cannot take; the message names it and the fix."""
