"""Bad-input cases of the GPT's look-backs (issue 49; one group since issue 71: transformer.model.lookback.smear,
.ngram, .conv) and of the flat keys they had before, the same contract as cases.py, appended to CASES in their own
group ("lookback") of docs/errors.md."""

from __future__ import annotations

from .case_kit import CK, case

M = "transformer.model"
L = f"{M}.lookback"
SMEAR = f"{L}.smear.enabled=true"
LOOKBACK_GPT = f"{CK}/lookback_gpt.safetensors"  # a GPT with the smear gate and the bigram rows (harness.py)
BIGRAM_NGRAM = f"{CK}/old_bigram_ngram.safetensors"  # tests/fixtures/gpt's: two tables of order 2 (harness.py)

LOOKBACK = [
    case("lookback-smear-width-over-n-embd", "lookback", "transformer", [SMEAR, f"{L}.smear.width=100"],
         rf"{L}.smear.width=100 exceeds {M}.n_embd=\d+",
         rf"set ({L}.)?smear.width <= ({M}.)?n_embd, or null", fast=True),
    case("lookback-smear-width-zero", "lookback", "transformer", [SMEAR, f"{L}.smear.width=0"],
         rf"{L}.smear.width=0", r"must be a positive integer, or null"),
    case("lookback-smear-not-a-flag", "lookback", "transformer", [f"{L}.smear.enabled=sometimes"],
         rf"bad value for '{L}.smear.enabled'", r"fix it in conf/ or on the command line"),
    case("lookback-smear-not-a-group", "lookback", "transformer", [f"{L}.smear=true"],
         rf"config: '{L}.smear' is a group of settings \(enabled, width\), not a value \(True\)",
         rf"set its keys instead, e.g. {L}.smear.enabled=..."),
    case("lookback-ngram-order-one", "lookback", "transformer", [f"{L}.ngram.order=1"],
         rf"{L}.ngram.order=1 is the token embedding itself: n-gram rows start at order 2",
         rf"set {L}.ngram.order >= 2 \(rows for the orders 2..n; 2 is the bigram embedding\), or 0"),
    case("lookback-ngram-order-too-high", "lookback", "transformer", [f"{L}.ngram.order=12"],
         rf"{L}.ngram.order=12", r"must be an integer in \[0, 8\]"),
    case("lookback-ngram-buckets-zero", "lookback", "transformer", [f"{L}.ngram.order=4", f"{L}.ngram.buckets=0"],
         rf"{L}.ngram.buckets=0", r"must be a positive integer \(rows per order, e.g. 4096\)"),
    case("lookback-ngram-order-not-an-integer", "lookback", "transformer", [f"{L}.ngram.order=four"],
         rf"bad value for '{L}.ngram.order'", r"fix it in conf/ or on the command line"),
    case("lookback-conv-one", "lookback", "transformer", [f"{L}.conv.kernel=1"],
         rf"{L}.conv.kernel=1 reads no earlier position",
         rf"set {L}.conv.kernel >= 2 \(e.g. 4: the position and the 3 before it\), or 0"),
    case("lookback-conv-negative", "lookback", "transformer", [f"{L}.conv.kernel=-2"],
         rf"{L}.conv.kernel=-2", r"must be an integer in \[0, 64\]"),
    case("lookback-conv-not-an-integer", "lookback", "transformer", [f"{L}.conv.kernel=wide"],
         rf"bad value for '{L}.conv.kernel'", r"fix it in conf/ or on the command line"),
    case("lookback-conv-unknown-place", "lookback", "transformer", [f"{L}.conv.kernel=4", f"{L}.conv.at=ae"],
         rf"{L}.conv.at='?ae'?", r"a, b, c, d, ab, ac"),
    case("lookback-conv-places-out-of-order", "lookback", "transformer", [f"{L}.conv.kernel=4", f"{L}.conv.at=ca"],
         rf"{L}.conv.at='?ca'?", r"a, b, c, d, ab, ac"),
    case("lookback-renamed-conv", "lookback", "transformer", [f"{L}.conv=4"],
         rf"{L}.conv is now {L}.conv.kernel \(the convolution's settings are one group: its kernel and its places\)",
         r"rename it in your config"),
    case("lookback-renamed-smear", "lookback", "transformer", [f"+{M}.smear=true"],
         rf"{M}.smear is now {L}.smear.enabled \(the look-backs' settings are one group\)",
         r"rename it in your config"),
    case("lookback-renamed-bigram-embed", "lookback", "transformer", [f"+{M}.bigram_embed=true"],
         rf"{M}.bigram_embed is now {L}.ngram.order=2 \(the bigram embedding is the n-gram rows of order 2\)",
         r"rename it in your config"),
    case("lookback-renamed-conv-kernel", "lookback", "transformer", [f"+{M}.conv_kernel=4"],
         rf"{M}.conv_kernel is now {L}.conv.kernel", r"rename it in your config"),
    case("lookback-renamed-mtp", "lookback", "transformer", [f"{M}.mtp=1"],
         rf"{M}.mtp is now {M}.mtp.heads \(multi-token prediction's settings are one group\)",
         r"rename it in your config"),
    case("lookback-old-bigram-and-ngram-checkpoint", "lookback", "cli", ["sample", BIGRAM_NGRAM],
         r"bigram_ngram.safetensors: its GPT has bigram_embed=true and ngram_embed=3, two tables of order 2, which "
         r"this lmladder no longer builds", rf"retrain it with {L}.ngram.order=3"),
    case("lookback-export-hf", "lookback", "cli", ["export", LOOKBACK_GPT, "--to", "hf", "{sb}/runs/lookback-hf"],
         rf"--to hf writes GPT-2's layout, which cannot express {L}.smear.enabled=True \(and lookback.ngram.order\)",
         rf"export a model trained with {L}.smear.enabled=False, or keep using lmladder"),
    case("lookback-export-gguf", "lookback", "cli", ["export", LOOKBACK_GPT, "--to", "gguf",
                                                     "{sb}/runs/lookback.gguf"],
         rf"--to gguf writes GPT-2's layout, which cannot express {L}.smear.enabled=True",
         rf"export a model trained with {L}.smear.enabled=False"),
]  # fmt: skip
