"""Bad-input cases of issue 70 for `lmladder diff` and `lmladder evaluate --window`: texts a diff cannot line up on
characters, a model that holds a token impossible, sizes bounded by memory before any work (the same contract as
cases.py), appended to CASES, so each comes last in its group of docs/errors.md."""

from __future__ import annotations

from .case_kit import GOOD, C, case

D5 = "{sb}/diff5"
BYTES = [f"{D5}/byte2.safetensors", f"{D5}/byte3.safetensors"]
NGRAM = "{sb}/runs/bigram/model.safetensors"
LIMIT = "LMLADDER_MEMORY_LIMIT"
NOT_UTF8 = r"a diff lines the models up on its characters; give a UTF-8 text \(e.g. iconv"

DIFF5 = [
    case("diff-bytes-not-utf8", "diff", "cli", ["diff", *BYTES, f"--text={D5}/not_utf8.txt", "--out={sb}/runs/d5"],
         r"--text .*not_utf8.txt is not valid UTF-8 \(byte 0xff at offset 23\)", NOT_UTF8, fast=True),
    case("diff-bytes-lone-surrogate", "diff", "cli", ["diff", *BYTES, f"--text={D5}/lone_surrogate.txt",
                                                      "--out={sb}/runs/d5"],
         r"--text .*lone_surrogate.txt is not valid UTF-8 \(byte 0xed at offset 23\)", NOT_UTF8),
    case("diff-impossible-token", "diff", "cli", ["diff", GOOD, f"{D5}/trigram_k0.safetensors",
                                                  f"--text={D5}/unseen.txt", "--out={sb}/runs/d5"],
         r"B \(.*trigram_k0.safetensors\) gives 1 token of --text .*unseen.txt zero probability: its NLL is "
         r"infinite there", r"use a smoothed model \(k > 0\) or an earlier checkpoint"),
    case("diff-max-chars-one", "diff", "cli", ["diff", GOOD, NGRAM, "--max-chars", "1"],
         r"--max-chars 1 must be >= 2", r"a diff needs a character to predict after the first"),
    case("diff-max-chars-no-document", "diff", "cli", ["diff", GOOD, NGRAM, f"--text={C}/names.txt",
                                                       "--max-chars", "3", "--out={sb}/runs/d5"],
         r"--max-chars 3 keeps no prediction of --text .*names.txt \(its first document is longer\)",
         r"give a larger --max-chars"),
    case("memory-limit-diff", "memory", "cli", ["diff", *BYTES, f"--text={D5}/big.txt", "--out={sb}/runs/d5"],
         r"a diff of 1,000,000 characters \(about 244 bytes each, and .* to score them\) needs about .* but "
         r"100.0 MiB is available under LMLADDER_MEMORY_LIMIT=100M", r"diff a part of it: --max-chars [\d,]+ fits",
         env={LIMIT: "100M"}),
    case("memory-limit-evaluate-window", "memory", "cli", ["evaluate", f"{D5}/rope.safetensors",
                                                           f"--text={C}/shakespeare.txt", "--window", "1000000000"],
         r"scoring 1 row of 5,999 tokens at once with a transformer model needs about .* but 64.0 MiB is "
         r"available under LMLADDER_MEMORY_LIMIT=64M", r"lower --batch-size or --window", env={LIMIT: "64M"}),
]  # fmt: skip
