"""Bad-input cases of the GPT's look-backs (issue 49: transformer.model.smear, smear_width, bigram_embed, ngram_embed,
conv_kernel), the same contract as cases.py, appended to CASES in their own group ("lookback") of docs/errors.md."""

from __future__ import annotations

from .case_kit import CK, case

SMEAR = "transformer.model.smear=true"
BIGRAM = "transformer.model.bigram_embed=true"
LOOKBACK_GPT = f"{CK}/lookback_gpt.safetensors"  # a GPT with both look-backs (harness.py)

LOOKBACK = [
    case("lookback-smear-width-over-n-embd", "lookback", "transformer", [SMEAR, "transformer.model.smear_width=100"],
         r"transformer.model.smear_width=100 exceeds transformer.model.n_embd=\d+",
         r"set (transformer.model.)?smear_width <= (transformer.model.)?n_embd, or null", fast=True),
    case("lookback-smear-width-zero", "lookback", "transformer", [SMEAR, "transformer.model.smear_width=0"],
         r"transformer.model.smear_width=0", r"must be a positive integer, or null"),
    case("lookback-smear-not-a-flag", "lookback", "transformer", ["transformer.model.smear=sometimes"],
         r"bad value for 'transformer.model.smear'", r"fix it in conf/ or on the command line"),
    case("lookback-bigram-word-vocabulary", "lookback", "transformer", [BIGRAM, "data.tokenizer=word"],
         r"transformer.model.bigram_embed=true keeps a row per pair of tokens: [\d,]+ rows x "
         r"transformer.model.n_embd=\d+ for a vocabulary of \d+ tokens",
         r"use one of at most 512 \(data.tokenizer=char or byte\) or set (transformer.model.)?bigram_embed=false"),
    case("lookback-ngram-order-one", "lookback", "transformer", ["transformer.model.ngram_embed=1"],
         r"transformer.model.ngram_embed=1 is the token embedding itself: n-gram rows start at order 2",
         r"set (transformer.model.)?ngram_embed >= 2 \(orders 2..(transformer.model.)?ngram_embed\), or 0", fast=True),
    case("lookback-ngram-order-too-high", "lookback", "transformer", ["transformer.model.ngram_embed=12"],
         r"transformer.model.ngram_embed=12", r"must be an integer in \[0, 8\]"),
    case("lookback-ngram-buckets-zero", "lookback", "transformer", ["transformer.model.ngram_embed=4",
                                                                     "transformer.model.ngram_buckets=0"],
         r"transformer.model.ngram_buckets=0", r"must be a positive integer \(rows per order, e.g. 4096\)"),
    case("lookback-ngram-order-not-an-integer", "lookback", "transformer", ["transformer.model.ngram_embed=four"],
         r"bad value for 'transformer.model.ngram_embed'", r"fix it in conf/ or on the command line"),
    case("lookback-conv-kernel-one", "lookback", "transformer", ["transformer.model.conv_kernel=1"],
         r"transformer.model.conv_kernel=1 reads no earlier position",
         r"set (transformer.model.)?conv_kernel >= 2 \(e.g. 4: the position and the 3 before it\), or 0", fast=True),
    case("lookback-conv-kernel-negative", "lookback", "transformer", ["transformer.model.conv_kernel=-2"],
         r"transformer.model.conv_kernel=-2", r"must be an integer in \[0, 64\]"),
    case("lookback-conv-kernel-not-an-integer", "lookback", "transformer", ["transformer.model.conv_kernel=wide"],
         r"bad value for 'transformer.model.conv_kernel'", r"fix it in conf/ or on the command line"),
    case("lookback-export-hf", "lookback", "cli", ["export", LOOKBACK_GPT, "--to", "hf", "{sb}/runs/lookback-hf"],
         r"--to hf writes GPT-2's layout, which cannot express transformer.model.smear=True \(and bigram_embed\)",
         r"export a model trained with transformer.model.smear=False, or keep using lmladder"),
    case("lookback-export-gguf", "lookback", "cli", ["export", LOOKBACK_GPT, "--to", "gguf",
                                                     "{sb}/runs/lookback.gguf"],
         r"--to gguf writes GPT-2's layout, which cannot express transformer.model.smear=True",
         r"export a model trained with transformer.model.smear=False"),
]  # fmt: skip
