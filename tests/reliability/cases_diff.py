"""Bad-input cases of `lmladder diff`, of `lmladder compare` given single runs and of `lmladder inspect --data`
(issue 50): the same contract as cases.py, appended to CASES in their own group ("diff") of docs/errors.md."""

from __future__ import annotations

from .case_kit import GOOD, REPORT, C, F, case

NGRAM = "{sb}/runs/bigram/model.safetensors"  # a trigram on the same names as GOOD (an MLP)
NOT_PREPARED = r"--data .*corpora holds no prepared data \(no vocab.json\)"

DIFF = [
    case("diff-different-texts", "diff", "cli", ["diff", GOOD, f"{F}/other_corpus/model.safetensors"],
         r"A and B were trained on different texts \(A: .*names.txt, B: .*shakespeare.txt\)",
         r"give --text FILE to score both on one"),
    case("diff-text-not-encodable", "diff", "cli", ["diff", GOOD, NGRAM, f"--text={C}/tiny_stream.txt"],
         r"--text .*tiny_stream.txt has the character 'F' \(U\+0046\) at position 0, which is not in the "
         r"checkpoint's", r"score it with a checkpoint trained on similar text"),
    case("diff-text-empty", "diff", "cli", ["diff", GOOD, NGRAM, f"--text={C}/empty.txt"],
         r"--text .*empty.txt is empty", r"give a file with text to score"),
    case("diff-out-exists", "diff", "cli", ["diff", GOOD, NGRAM, "--out={sb}/runs"],
         r"--out .*runs holds .*runs/good/model.safetensors, which `lmladder diff` reads",
         r"give a new folder \(--out NEW_FOLDER\)"),
    case("diff-missing-run", "diff", "cli", ["diff", GOOD, "{sb}/runs/nope"],
         r"runs/nope: no such file or folder", r"give a run folder \(outputs/<rung>/seed<N>\) or a model.safetensors"),
    case("diff-data-not-prepared", "diff", "cli", ["diff", GOOD, NGRAM, f"--data={C}"],
         NOT_PREPARED, r"give the run's data/prepared folder"),
    case("inspect-data-not-prepared", "diff", "cli", ["inspect", GOOD, f"--data={C}", "--out={sb}/runs/insp"],
         NOT_PREPARED, r"give the run's data/prepared folder"),
    case("compare-run-with-report", "diff", "cli", ["compare", "{sb}/runs/good", REPORT],
         r"runs/good is a single run and .*reports is not", r"compare two runs, or two reports or sweeps"),
]  # fmt: skip
