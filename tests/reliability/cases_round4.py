"""Bad-input cases of issue 47 (round four: the newest features), the same contract as cases.py (one line naming the
problem and the fix, nothing changed), appended to CASES, so each comes last in its group of docs/errors.md."""

from __future__ import annotations

from .case_kit import CK, GOOD, C, case

GPT = f"{CK}/gpt.safetensors"
NOT_OURS = r"and --force replaces only that"
NOT_OUR_FOLDER = r"the only folder it replaces \(with or without --force\)"  # io/outputs.py, every output folder
LIMIT = "LMLADDER_MEMORY_LIMIT"

ROUND4 = [
    # 1. --force replaces an earlier export of the same format, nothing else (it once deleted any folder)
    case("export-force-over-documents", "export", "cli", ["export", GPT, "--to", "hf", C, "--force"],
         r"corpora is not an earlier `lmladder export --to hf` output \(it holds .*, which no --to hf export writes\)",
         rf"{NOT_OUR_FOLDER}; give a new path, or move what it holds away", fast=True),
    case("export-force-over-a-parent-folder", "export", "cli", ["export", GPT, "--to", "hf", "{sb}/runs", "--force"],
         r"runs is not an earlier `lmladder export --to hf` output \(it holds .*, which no --to hf export writes\)",
         NOT_OUR_FOLDER),
    case("export-force-gguf-over-a-text", "export", "cli", ["export", GPT, "--to", "gguf", f"{C}/names.txt", "--force"],
         r"names.txt is not an earlier --to gguf export \(it does not start with GGUF's magic bytes\)", NOT_OURS),
    case("export-force-arpa-over-a-text", "export", "cli", ["export", "{sb}/runs/bigram", "--to", "arpa",
                                                            f"{C}/names.txt", "--force"],
         r"names.txt is not an earlier --to arpa export \(it does not start with ARPA's \\data\\ header\)", NOT_OURS),
    # 4. files compare reads are bounded by their size; a run's own units file is replaced only with --force
    case("compare-units-header-asks-terabytes", "report", "cli", ["compare", "{sb}/runs/good",
                                                                  "{sb}/units/huge_header"],
         r"huge_header/units.npz is corrupt \(its val_nll.npy asks for 8,796,093,022,208 bytes of array in a \d+-byte",
         r"delete it \(the run is then reported without intervals\)", fast=True),
    case("evaluate-units-over-a-runs-own", "evaluate", "cli", ["evaluate", GOOD, f"--text={C}/names.txt", "--units",
                                                                "{sb}/runs/good/units.npz"],
         r"--units .*runs/good/units.npz exists", r"pass --force to replace it, or give a new path"),
    # 5. the newest writers estimate before they allocate, under LMLADDER_MEMORY_LIMIT too
    case("memory-limit-arpa-export", "memory", "cli", ["export", "{sb}/runs/bigram", "--to", "arpa",
                                                       "{sb}/runs/trigram.arpa"],
         r"--to arpa of this 3-gram model \([\d,]+ n-grams, about 1200 bytes each while written\) needs about .* "
         r"but 64.0 MiB is available under LMLADDER_MEMORY_LIMIT=64M",
         r"export a model of lower order \(bigram.model.order=\), or free some memory", env={LIMIT: "64M"}),
    case("memory-limit-one-long-line", "memory", "prepare", ["data.kind=lines", f"data.path={C}/one_long_line.txt",
                                                             "paths.prepared={sb}/runs/long_line/prepared"],
         r"preparing .*one_long_line.txt as a lines corpus \(its longest line is 34,603,008 bytes, about 16 bytes .*"
         r"but 256.0 MiB is available under LMLADDER_MEMORY_LIMIT=256M",
         r"break it into lines \(one document per line\), or prepare it as data.kind=stream", env={LIMIT: "256M"}),
    # 7. DVCLive's writes follow the error policy of every other file of a run
    case("live-log-folder-is-a-file", "live", "mlp", ["hydra.run.dir={sb}/runs/live_blocked"],
         r"cannot write .*live_blocked/dvclive: File exists",
         r"a file is in the way of a directory on the path .*dvclive; move it or choose another path", fast=True),
    # 8. every knob bounded
    case("config-muon-ns-steps-huge", "config", "mlp", ["mlp.optim.name=muon", "mlp.optim.muon.ns_steps=1000000000"],
         r"mlp.optim.muon.ns_steps=1000000000 must be an integer in \[1, 64\]", r"5 is Muon's usual count"),
    # 10. the mixture says what it fitted, and refuses what would flatter it
    case("mixture-neural-other-split", "config", "mixture", [f"mixture.model.neural={GOOD}", "data.split_seed=7"],
         r"neural='.*good/model.safetensors' was trained with data.split_seed=42, this run has 7: another split of "
         r"the data, so its training saw this run's val or test text", r"train it with this run's data settings"),
]  # fmt: skip
