"""`lmladder diff A B`: where on a text model B beats model A, character by character (LMdiff, Strobelt et al.
2021; GLTR, Gehrmann et al. 2019): the text coloured by NLL_A − NLL_B, the spans where B gains and loses most, and a
breakdown by kind of character with paired bootstrap intervals. Works across tokenizers by aligning on characters."""

from .align import DiffError, Side, align
from .page import BYTES_PER_CHAR, BYTES_PER_TOKEN, write_diff, write_note

__all__ = ["BYTES_PER_CHAR", "BYTES_PER_TOKEN", "DiffError", "Side", "align", "write_diff", "write_note"]
