"""Bad-input cases found in verifying issue 32 (round three) beyond those it named, and the ones of its memory
limit: the same contract as cases.py (one line naming the problem and the fix, nothing changed), appended to CASES,
so each comes last in its group of docs/errors.md."""

from __future__ import annotations

from .case_kit import CK, GOOD, RB, REPORT, ZEROS, C, case

LIMIT = "LMLADDER_MEMORY_LIMIT"
UNDER = r"is available under LMLADDER_MEMORY_LIMIT="
RAISE = r"\(or raise LMLADDER_MEMORY_LIMIT\)$"
NO_MATRICES = ["mlp.optim.name=muon", "mlp.model.n_embd=1", "mlp.model.context=1"]  # every weight a vector

FOUND = [
    # folders lmladder makes for its data, under a file (a NotADirectoryError traceback each)
    case("prepared-path-under-a-file", "corpus", "mlp", [f"paths.prepared={C}/names.txt/prepared"],
         r"cannot create the data cache .*names.txt/cache: Not a directory",
         r"point paths.prepared at a folder that can be written \(its cache goes beside it\)"),
    case("corpus-url-raw-dir-under-a-file", "corpus", "prepare",
         ["data.source=url", f"data.url=file://{C}/names.txt", f"data.sha256={ZEROS}", "data.path=null",
          f"data.raw_dir={C}/names.txt/raw"],
         r"cannot keep the download of file://.*names.txt in .*names.txt/raw \(Not a directory\)",
         r"point data.raw_dir= at a folder that can be written"),
    # LMLADDER_MEMORY_LIMIT binds every command: each refusal names it, and that it may be raised
    case("memory-limit-beam", "memory", "cli", ["sample", GOOD, "--beam", "100000"],
         rf"beam search with --beam 100000 \(.* per beam\) needs about [\d.]+ \w+ of memory, but 64.0 MiB {UNDER}64M",
         rf"lower --beam {RAISE}", env={LIMIT: "64M"}, fast=True),
    case("memory-limit-checkpoint", "memory", "cli", ["sample", GOOD],
         rf"reading .*good/model.safetensors \([\d.]+ KiB of arrays\) needs about [\d.]+ KiB of memory, but 1.0 KiB "
         rf"{UNDER}1K", rf"free some memory, or read it on a machine with more {RAISE}", env={LIMIT: "1K"}),
    case("memory-limit-training", "memory", "mlp", ["mlp.train.batch_size=100000"],
         rf"a training step of mlp.train.batch_size=100000 rows .* needs about [\d.]+ \w+ of memory, but 64.0 MiB "
         rf"{UNDER}64M", rf"lower mlp.train.batch_size= .*{RAISE}", env={LIMIT: "64M"}),
    case("memory-limit-evaluate-text", "memory", "cli", ["evaluate", GOOD, f"--text={C}/names.txt"],
         rf"--text .*names.txt is over [\d.]+ \w+, the most that fits in memory \(.*64.0 KiB {UNDER}64K\)",
         r"use a part of it, e.g. head -c 100M", env={LIMIT: "64K"}),
    case("memory-limit-not-a-size", "memory", "cli", ["sample", GOOD],
         r"LMLADDER_MEMORY_LIMIT='lots' is not a size", r"give bytes or e.g. 512M, 8G \(or unset it\)",
         env={LIMIT: "lots"}),
    # Muon updates hidden matrices; a model with none (every weight a vector) is refused, by the check stage too
    case("config-muon-no-hidden-matrices", "config", "mlp", NO_MATRICES,
         r"mlp.optim.name='muon' needs hidden matrices \(2-D weights with both sides > 1.*this mlp model has none",
         r"set mlp.optim.name=adamw, or widen the model"),
    case("config-check-muon-no-hidden-matrices", "config", "check", NO_MATRICES,
         r"mlp.optim.name='muon' needs hidden matrices", r"set mlp.optim.name=adamw, or widen the model"),
    # a file is written whole and renamed into place: over a FIFO or a device (--units /dev/null, as root) that
    # rename replaced it with a file
    case("evaluate-units-fifo", "evaluate", "cli", ["evaluate", GOOD, f"--text={C}/names.txt", "--units",
                                                    f"{C}/fifo.txt"],
         r"cannot write .*fifo.txt: it is a FIFO \(named pipe\), which renaming the new file into place would replace",
         r"give the path of a regular file"),
    # lmladder evaluate --window (issue 49's scoring-window study): rows of N tokens, where the model can read them
    case("evaluate-window-one", "evaluate", "cli", ["evaluate", GOOD, f"--text={C}/names.txt", "--window", "1"],
         r"--window 1 must be >= 2", r"a row of n tokens predicts n - 1 of them"),
    case("evaluate-window-learned-positions", "evaluate", "cli",
         ["evaluate", f"{CK}/gpt.safetensors", f"--text={C}/names.txt", "--window", "9"],
         r"--window 9: a window of 9 exceeds this GPT's block_size=8 and its positions are learned",
         r"use a window <= 8"),
    case("evaluate-window-lines-corpus", "evaluate", "cli", ["evaluate", GOOD, f"--text={C}/names.txt", "--window",
                                                              "8"],
         r"--window 8: this model's corpus is one document per line", r"leave --window out"),
    case("export-output-fifo", "export", "cli", ["export", f"{CK}/gpt.safetensors", "--to", "gguf", f"{C}/fifo.txt",
                                                 "--force"],
         r"cannot write .*fifo.txt: it is a FIFO \(named pipe\), which renaming the new file into place would replace",
         r"give the path of a regular file"),
    # a report table with one setting twice (two tables pasted together) paired each row with the other side's
    case("compare-setting-twice", "report", "cli", ["compare", f"{RB}/twice.csv", REPORT],
         r"twice.csv: lines 2 and 3 are both rung=mlp; a report table has one row per setting",
         r"delete one, or re-run `lmladder report` or the evaluate stage"),
    # an empty output path (an unset $OUT) is `.`: with --force it crashed trying to replace the current folder
    case("export-output-current-folder", "export", "cli", ["export", f"{CK}/gpt.safetensors", "--to", "hf", "",
                                                           "--force"],
         r"the output path '\.' \(\., \.\., / or an empty path\) is no folder an export can replace",
         r"give a new folder path, e.g. gpt-hf"),
]  # fmt: skip
