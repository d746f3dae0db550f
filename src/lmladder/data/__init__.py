"""Corpora, tokenizers, splits, prepared token arrays and batching.

src = load_source("file", path="names.txt")                       # or "babynames" (embedded), "url"
prepare_corpus(src.text(), kind="lines", tokenizer="char", out_dir="data/prepared", source=src.description)
data = load_prepared("data/prepared")                             # memory-mapped train/val/test ids
x, y = sample_docs(data.splits["train"], doc_bounds(...), 32, 16, rng)
prep, where = ensure_prepared(DataConfig(source="file", path="names.txt"), prepared_dir="data/prepared")
"""

from .batching import context_windows, contexts, doc_bounds, eval_batches, eval_plan, sample_docs, sample_windows
from .config import DataConfig
from .errors import DataError
from .prepared import Prepared, atomic_directory, load_prepared, prepare_corpus, text_sizes
from .registry import make_tokenizer, tokenizer_from_dict
from .sources import Source, check_source, corpus_lines, load_source, load_text
from .splits import DEFAULT_FRACTIONS, SPLIT_NAMES, check_fractions, split_lines, split_stream
from .store import data_signature, ensure_prepared, load_matching, prepare
from .tokenizers import TOKENIZERS, BPETokenizer, ByteTokenizer, CharTokenizer, Tokenizer, WordTokenizer

__all__ = [
    "DataConfig",
    "data_signature",
    "ensure_prepared",
    "load_matching",
    "prepare",
    "DataError",
    "Tokenizer",
    "ByteTokenizer",
    "CharTokenizer",
    "WordTokenizer",
    "BPETokenizer",
    "TOKENIZERS",
    "text_sizes",
    "tokenizer_from_dict",
    "Source",
    "check_source",
    "load_source",
    "load_text",
    "corpus_lines",
    "SPLIT_NAMES",
    "DEFAULT_FRACTIONS",
    "check_fractions",
    "split_stream",
    "split_lines",
    "Prepared",
    "atomic_directory",
    "make_tokenizer",
    "prepare_corpus",
    "load_prepared",
    "sample_windows",
    "doc_bounds",
    "sample_docs",
    "eval_plan",
    "eval_batches",
    "context_windows",
    "contexts",
]
