"""Every tokenizer, one class per module (base.py holds the contract). Adding one is its module here, the import
line below, and, for settings of its own, their dataclass beside it (the class's `settings`), its block in DataConfig
named after it and that block in conf/data/base.yaml."""

# isort: off
# import order is registration order, the order settings and errors list them: simplest first
from .base import TOKENIZERS, Tokenizer
from .char import CharTokenizer
from .byte import ByteTokenizer
from .word import WordTokenizer
from .bpe import BPETokenizer

# isort: on

__all__ = ["TOKENIZERS", "Tokenizer", "CharTokenizer", "ByteTokenizer", "WordTokenizer", "BPETokenizer"]
