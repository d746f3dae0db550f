"""Bad-input cases of issue 70, class 1: a command's output folder is a run, a study, a folder of documents or the
current folder. Every command that writes a folder replaces only its own earlier output (its marker,
src/lmladder/io/outputs.py) and refuses the rest in one line, with or without --force; the same contract as cases.py,
appended to CASES in the groups of the commands (test_output_folders.py runs every such command against every kind
of folder)."""

from __future__ import annotations

from .case_kit import GOOD, REPORT, C, F, case

RUN = "{sb}/runs/good"
GRU = "{sb}/runs/good_gru"
NOT_OURS = r"the only folder it replaces \(with or without --force\); give a new folder \(--out NEW_FOLDER\), or move"
NEW = r"give a new folder \(--out NEW_FOLDER\)"

FOLDERS = [
    case("inspect-out-its-run", "checkpoint", "cli", ["inspect", RUN, "--out", RUN],
         r"--out .*runs/good holds .*runs/good/model.safetensors, which `lmladder inspect` reads", NEW),
    case("inspect-out-documents", "checkpoint", "cli", ["inspect", GOOD, "--out", C],
         r"--out .*corpora is not an earlier `lmladder inspect` output \(it holds .*\)", NOT_OURS),
    case("report-out-a-run", "report", "cli", ["report", "{sb}/outputs_names", "--out", RUN],
         r"--out .*runs/good is not an earlier `lmladder report` output \(it holds model.safetensors, metrics.json",
         NOT_OURS),
    case("compare-out-documents", "report", "cli", ["compare", RUN, GRU, "--out", C],
         r"--out .*corpora is not an earlier `lmladder compare` output \(it holds .*\)", NOT_OURS),
    case("frontier-fit-out-its-study", "frontier", "cli", ["frontier", "fit", f"{F}/planned", "--out", f"{F}/planned"],
         r"--out .*frontier/planned holds .*frontier/planned, which `lmladder frontier fit` reads", NEW),
    case("frontier-fit-out-documents", "frontier", "cli", ["frontier", "fit", f"{F}/planned", "--out", C],
         r"--out .*corpora is not an earlier `lmladder frontier fit` output", NOT_OURS),
    case("frontier-plan-out-documents", "frontier", "cli", ["frontier", "plan", f"{F}/ok.yaml", "--out", C],
         r"corpora is not empty and holds no plan", r"a study needs a folder of its own: give a new --out"),
    case("diff-out-a-force", "diff", "cli", ["diff", RUN, GRU, "--out", RUN, "--force"],
         r"--out .*runs/good holds .*runs/good, which `lmladder diff` reads", NEW),
    case("diff-out-current-folder-force", "diff", "cli", ["diff", RUN, GRU, "--out", "{sb}", "--force"],
         r"--out .* is the current folder or one above it, which no command replaces", NEW),
    case("diff-out-a-report-folder", "diff", "cli", ["diff", RUN, GRU, "--out", REPORT, "--force"],
         r"--out .*reports is not an earlier `lmladder diff` output \(it holds .*\)", NOT_OURS),
]  # fmt: skip
