"""The root of every user-facing lmladder error. Entry points print these as one line (no traceback) and exit
non-zero; anything else is a bug and keeps its traceback."""


class LmladderError(Exception):
    """Mixed into each module's error class (DataError, CheckpointError, ...)."""
