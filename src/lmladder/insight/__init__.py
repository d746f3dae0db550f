"""Looking inside a model: `lmladder inspect` (page.py) and its pictures (figures.py)."""

from .page import InspectError, inspect_run

__all__ = ["InspectError", "inspect_run"]
