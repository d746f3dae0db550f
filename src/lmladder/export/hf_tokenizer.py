"""lmladder's tokenizers as Hugging Face `tokenizers` pipelines that give exactly the same ids and text.

char: one WordLevel token per character. byte and bpe: byte-level BPE (GPT-2's byte alphabet; byte has no merges),
pre-split by lmladder's own pattern. word: WordLevel over lmladder's word regex, with a decoder that puts the spaces
back by the same rule as WordTokenizer.decode. The regexes name their character classes (\\w, \\s, \\p{L}, \\p{N})
as explicit code-point ranges taken from Python's own `re` / `regex`, because Oniguruma's Unicode classes differ
(its \\w has combining marks, its \\s lacks U+001C..U+001F): the classes must be lmladder's, not the engine's.
"""

from __future__ import annotations

import functools
import importlib
import re
import sys
from typing import Any

import regex

from ..data.tokenizers import BPETokenizer, ByteTokenizer, CharTokenizer, Tokenizer, WordTokenizer
from ..data.tokenizers.bpe import PATTERNS
from ..data.tokenizers.word import NO_SPACE_AFTER, NO_SPACE_BEFORE, WORD_RE
from .errors import ExportError

_ALL = "".join(map(chr, [*range(0xD800), *range(0xE000, sys.maxunicode + 1)]))  # every code point but surrogates


@functools.cache
def byte_alphabet() -> list[str]:
    """GPT-2's printable stand-in for each byte (openai/gpt-2 encoder.py bytes_to_unicode), by byte value."""
    keep = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    extra = iter(range(256, 512))
    return [chr(b) if b in keep else chr(next(extra)) for b in range(256)]


def byte_level(data: bytes) -> str:
    alpha = byte_alphabet()
    return "".join(alpha[b] for b in data)


@functools.cache
def _ranges(engine: str, cls: str) -> str:
    """The code points `cls` matches under `engine` ("re" or "regex"), as an Oniguruma bracket body."""
    found = (re if engine == "re" else regex).findall(cls, _ALL)
    cps = sorted(map(ord, found))
    out, i = [], 0
    while i < len(cps):
        j = i
        while j + 1 < len(cps) and cps[j + 1] == cps[j] + 1:
            j += 1
        out.append(f"\\x{{{cps[i]:X}}}" + (f"-\\x{{{cps[j]:X}}}" if j > i else ""))
        i = j + 1
    return "".join(out)


_CLASS_RE = regex.compile(r"\\p\{[LN]\}|\\[sSw]|\\.|\[|\]")


def onig(pattern: str, engine: str) -> str:
    """`pattern` with each class escape spelled out as `engine` reads it: inside brackets the ranges join the set,
    outside they become a set of their own (\\S: a negated one)."""
    out, depth, pos = [], 0, 0
    for m in _CLASS_RE.finditer(pattern):
        out.append(pattern[pos : m.start()])
        pos, tok = m.end(), m.group()
        if tok in ("[", "]"):
            depth += 1 if tok == "[" else -1
            out.append(tok)
        elif tok in (r"\p{L}", r"\p{N}", r"\s", r"\w", r"\S"):
            body = _ranges(engine, tok.replace("S", "s"))
            if depth:
                if tok == r"\S":
                    raise ExportError(f"cannot spell {pattern!r} for Oniguruma (\\S inside brackets)")
                out.append(body)
            else:
                out.append(f"[^{body}]" if tok == r"\S" else f"[{body}]")
        else:
            out.append(tok)
    out.append(pattern[pos:])
    return "".join(out)


def _char_class(chars) -> str:
    return "".join(f"\\x{{{ord(c):X}}}" for c in chars)


def _char(tok: CharTokenizer):
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers

    unk = tok.unk if tok.unk_id is not None else "<unk>"  # absent from the vocabulary: an unknown char is an error
    t = Tokenizer(models.WordLevel({c: i for i, c in enumerate(tok.itos)}, unk_token=unk))
    t.pre_tokenizer = pre_tokenizers.Split(Regex("(?m:.)"), behavior="isolated")  # (?m): Ruby's dot-all
    t.decoder = decoders.Fuse()
    return t


def _byte_level(tok: ByteTokenizer | BPETokenizer):
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers

    merges = tok.merges if isinstance(tok, BPETokenizer) else []
    pieces = [bytes([b]) for b in range(256)] + (tok.vocab[256 : 256 + len(merges)] if merges else [])
    vocab = {byte_level(p): i for i, p in enumerate(pieces)}
    if len(vocab) != len(pieces):  # two merges that spell the same bytes: a string-keyed vocabulary has one
        raise ExportError(
            f"this {tok.describe()} vocabulary has {len(pieces) - len(vocab)} token(s) whose bytes repeat another's, "
            "which a tokenizer.json vocabulary (one id per string) cannot hold; retrain it with another vocab_size"
        )
    pairs = [(byte_level(pieces[a]), byte_level(pieces[b])) for a, b in merges]
    t = Tokenizer(models.BPE(vocab, pairs, fuse_unk=False, byte_fallback=False, ignore_merges=False))
    level = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    pattern = PATTERNS[tok.pattern] if isinstance(tok, BPETokenizer) else None
    split = [pre_tokenizers.Split(Regex(onig(pattern, "regex")), behavior="isolated")] if pattern else []
    t.pre_tokenizer = pre_tokenizers.Sequence([*split, level])
    t.decoder = decoders.ByteLevel()
    if isinstance(tok, BPETokenizer):  # ids follow the vocabulary in order; a lines boundary stands for "\n"
        specials = ["\n" if tok.lines and k == 0 else s for k, s in enumerate(tok.specials)]
        t.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in specials])
    return t


def _word(tok: WordTokenizer):
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers

    t = Tokenizer(models.WordLevel(dict(tok.stoi), unk_token="<unk>"))
    gaps = _ranges("re", r"[^\S\n]")  # what WORD_RE.findall skips: whitespace other than newlines
    t.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(f"[{gaps}]+"), behavior="removed"),
            pre_tokenizers.Split(Regex(onig(WORD_RE.pattern, "re")), behavior="isolated"),
        ]
    )
    # WordTokenizer.decode: a space before each token but the first, none before closing punctuation, none after
    # opening punctuation or a newline. WordPiece's decoder joins with spaces except before "##"-marked tokens.
    glued = [decoders.Replace(Regex(f"\\A{_char_class(c)}\\z"), "##" + c) for c in sorted(NO_SPACE_BEFORE)]
    t.decoder = decoders.Sequence(
        [
            *glued,
            decoders.WordPiece(prefix="##", cleanup=False),
            decoders.Fuse(),
            decoders.Replace(Regex("\\A##"), ""),  # WordPiece keeps the first token's mark
            decoders.Replace(Regex(f"(?<=[{_char_class(sorted(NO_SPACE_AFTER))}]) "), ""),
        ]
    )
    return t


def hf_tokenizer(tok: Tokenizer):
    """(tokenizers.Tokenizer equivalent to `tok`, its special tokens {"eos_token": "...", "eos_id": id, ...}): a lines
    corpus's boundary or BPE's <|endoftext|> is both bos and eos (it starts and ends documents), as in sampling."""
    from ..inference.sampling import stop_token

    if isinstance(tok, CharTokenizer):
        t = _char(tok)
    elif isinstance(tok, ByteTokenizer | BPETokenizer):
        t = _byte_level(tok)
    elif isinstance(tok, WordTokenizer):
        t = _word(tok)
    else:
        raise ExportError(f"lmladder's {tok.name!r} tokenizer has no tokenizer.json form yet")
    specials: dict[str, Any] = {}
    eos, unk = stop_token(tok), getattr(tok, "unk_id", None)
    for role, i in (("bos", eos), ("eos", eos), ("unk", unk)):
        if i is None:
            continue
        specials[f"{role}_id"] = i
        # transformers matches a named special token's text literally: name it only where lmladder encodes that
        # text to the same id (not word's "<unk>", which is three tokens, nor a byte-level "Ċ")
        if _encodes_to(tok, text := t.id_to_token(i), i):
            specials[f"{role}_token"] = text
    return t, specials


def _encodes_to(tok: Tokenizer, text: str, i: int) -> bool:
    try:
        return tok.encode(text).tolist() == [i]
    except ValueError:  # a character outside a vocabulary without an unknown token
        return False


def require(package: str, fmt: str) -> None:
    """ExportError unless `package` imports: the export formats' libraries are an optional extra."""
    try:
        importlib.import_module(package)
    except ImportError:
        raise ExportError(
            f"--to {fmt} needs the {package} package, which is not installed; pip install 'lmladder[export]'"
        ) from None
