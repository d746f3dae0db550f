"""Every bad-input case: the command, and the two things its one-line message must say (the problem, the fix).

`entry` is a stage (prepare, evaluate, or a rung: `python stages/<file>.py` with Hydra overrides)
or "cli" (`python -m lmladder ...`). "{sb}" is the sandbox folder (see harness.py). `hydra=True` marks errors that
Hydra itself reports (it owns group lookup and override parsing): rc 1, its short text, no traceback.
docs/errors.md is this table with the actual messages (regenerate: python -m tests.reliability.make_errors_doc).
"""

from __future__ import annotations

from dataclasses import dataclass

GOOD = "{sb}/runs/good/model.safetensors"
GOOD_GRU = "{sb}/runs/good_gru/model.safetensors"
REPORT = "{sb}/reports"
CK = "{sb}/ckpt"
C = "{sb}/corpora"
ZEROS = "0" * 64


@dataclass(frozen=True)
class Case:
    id: str
    group: str
    entry: str
    args: tuple[str, ...]
    problem: str  # regex: names the problem
    fix: str  # regex: names the fix
    hydra: bool = False
    fast: bool = False  # also run as a real subprocess in the fast suite (one or two per group)


def case(id, group, entry, args, problem, fix, **kw) -> Case:
    return Case(id, group, entry, tuple(args), problem, fix, **kw)


CASES = [
    # ------------------------------------------------------------------ corpus
    case("corpus-missing", "corpus", "prepare", [f"data.path={C}/nope.txt"],
         r"data file '.*nope.txt' not found", r"set data.path=", fast=True),
    case("corpus-empty", "corpus", "prepare", [f"data.path={C}/empty.txt"],
         r"is empty", r"point data.path= at a non-empty text file"),
    case("corpus-shorter-than-context", "corpus", "transformer",
         [f"data.path={C}/tiny_stream.txt", "data.kind=stream", "data.fractions=[0.9,0.1]"],
         r"the val split has 7 tokens, too short for transformer.model.block_size=16",
         r"set transformer.model.block_size <= 6, or use a larger corpus"),
    case("corpus-invalid-utf8", "corpus", "prepare", [f"data.path={C}/bad_utf8.txt"],
         r"bad_utf8.txt is not valid UTF-8 \(byte 0xff at offset 8\)",
         r"fix the file's encoding \(save it as UTF-8\) or use data.tokenizer=byte"),
    case("corpus-blank-lines", "corpus", "prepare", [f"data.path={C}/blank_lines.txt"],
         r"blank line 3 in a lines corpus", r"delete blank lines or use data.kind=stream"),
    case("corpus-too-few-lines", "corpus", "prepare", [f"data.path={C}/two_lines.txt"],
         r"split 'val' is empty", r"use a larger corpus or a larger fraction"),
    case("corpus-url-wrong-sha256", "corpus", "prepare",
         ["data.source=url", f"data.url=file://{C}/names.txt", f"data.sha256={ZEROS}", "data.path=null"],
         r"sha256 mismatch for file://.*names.txt: expected 0{64}, got [0-9a-f]{64}; nothing was kept",
         r"check data.url= and data.sha256=", fast=True),
    case("corpus-file-wrong-sha256", "corpus", "prepare", [f"data.sha256={ZEROS}"],
         r"sha256 mismatch for file:.*names.txt", r"fix data.sha256= or the file"),
    case("corpus-sha256-malformed", "corpus", "prepare", ["data.sha256=abc123"],
         r"data.sha256='abc123' is not 64 hex digits", r"sha256sum"),
    # ------------------------------------------------------------------ config
    case("config-unknown-key-added", "config", "mlp", ["+mlp.optim.lrr=0.1"],
         r"unknown key 'mlp.optim.lrr'", r"check the spelling against conf/", fast=True),
    case("config-unknown-key-hydra", "config", "mlp", ["mlp.optim.lrr=0.1"],
         r"Could not override 'mlp.optim.lrr'", r"To append to your config use \+mlp.optim.lrr=0.1", hydra=True),
    case("config-unknown-data-group", "config", "mlp", ["data=nope"],
         r"Could not find 'data/nope'", r"Available options in 'data'", hydra=True, fast=True),
    case("config-unknown-model-group", "config", "transformer", ["transformer=nope"],
         r"Could not find 'transformer/nope'", r"Available options in 'transformer'", hydra=True),
    case("config-wrong-type-int", "config", "mlp", ["mlp.train.max_iters=abc"],
         r"bad value for 'mlp.train.max_iters'.*'abc'", r"fix it in conf/ or on the command line"),
    case("config-wrong-type-bool", "config", "transformer", ["transformer.model.bias=maybe"],
         r"bad value for 'transformer.model.bias'", r"fix it in conf/ or on the command line"),
    case("config-n-embd-not-divisible", "config", "transformer",
         ["transformer.model.n_embd=30", "transformer.model.n_head=4"],
         r"transformer.model.n_embd=30 is not divisible by transformer.model.n_head=4",
         r"pick n_embd a multiple of n_head", fast=True),
    case("config-model-size-zero", "config", "mlp", ["mlp.model.n_hidden=0"],
         r"mlp.model.n_hidden=0", r"must be a positive integer"),
    case("config-batch-size-negative", "config", "transformer", ["transformer.train.batch_size=-1"],
         r"transformer.train.batch_size=-1", r"must be a positive integer"),
    case("config-lr-zero", "config", "mlp", ["mlp.optim.lr=0"], r"mlp.optim.lr=0.0", r"must be > 0"),
    case("config-lr-negative", "config", "transformer", ["transformer.optim.lr=-0.001"],
         r"transformer.optim.lr=-0.001", r"must be > 0"),
    case("config-min-lr-above-lr", "config", "mlp", ["mlp.optim.min_lr=0.1"],
         r"mlp.optim.min_lr=0.1", r"must be in \[0, mlp.optim.lr=0.005\]"),
    case("config-optimizer-unknown", "config", "mlp", ["mlp.optim.name=lion"],
         r"mlp.optim.name='lion'", r"choose adamw, adam or sgd"),
    case("config-fractions-outside", "config", "prepare", ["data.fractions=[1.2,-0.2]"],
         r"data.fractions=\[1.2, -0.2\]", r"2 or 3 values in \(0, 1\) summing to 1"),
    case("config-fractions-not-summing", "config", "mlp", ["data.fractions=[0.5,0.3]"],
         r"data.fractions=\[0.5, 0.3\]", r"summing to 1, e.g. \[0.9, 0.1\]"),
    case("config-dropout-out-of-range", "config", "mlp", ["mlp.model.dropout=1.5"],
         r"mlp.model.dropout=1.5", r"must be in \[0, 1\)"),
    case("config-rnn-cell-unknown", "config", "rnn", ["rnn.model.cell=foo"],
         r"rnn.model.cell='foo'", r"choose one of rnn, gru, lstm", fast=True),
    case("config-rnn-no-layers", "config", "rnn", ["rnn.model.n_layer=0"],
         r"rnn.model.n_layer=0", r"must be a positive integer"),
    case("config-rnn-forget-bias-not-finite", "config", "rnn", ["rnn.model.forget_bias=inf"],
         r"rnn.model.forget_bias=inf", r"must be a finite number", fast=True),
    case("config-rnn-dropout-out-of-range", "config", "rnn", ["rnn.model.dropout=-0.1"],
         r"rnn.model.dropout=-0.1", r"must be in \[0, 1\)"),
    case("config-data-kind-unknown", "config", "prepare", ["data.kind=paragraphs"],
         r"data.kind='paragraphs'", r"choose lines .* or stream"),
    case("config-tokenizer-unknown", "config", "prepare", ["data.tokenizer=word"],
         r"data.tokenizer='word'", r"choose char or byte"),
    case("config-seeds-empty", "config", "evaluate", ["seeds=[]"], r"seeds is empty", r"list at least one seed"),
    case("config-bigram-order-zero", "config", "bigram", ["bigram.model.order=0"],
         r"bigram.model.order=0", r"must be a positive integer"),
    case("config-bigram-order-too-large", "config", "bigram", ["bigram.model.order=20"],
         r"bigram.model.order=20 exceeds 16: fitting needs about .* bytes per training token",
         r"use bigram.model.order <= 16"),
    case("config-bigram-smoothing-unknown", "config", "bigram", ["bigram.model.smoothing=witten_bell"],
         r"bigram.model.smoothing='witten_bell'", r"choose one of add_k, kneser_ney"),
    case("config-bigram-k-negative", "config", "bigram", ["bigram.model.k=-1"],
         r"bigram.model.k=-1(.0)?", r"must be a finite number >= 0"),
    case("config-bigram-k-nan", "config", "bigram", ["bigram.model.k=nan"],
         r"bigram.model.k=nan", r"must be a finite number >= 0"),
    case("config-bigram-discount-outside", "config", "bigram",
         ["bigram.model.smoothing=kneser_ney", "bigram.model.discount=1.5"],
         r"bigram.model.discount=1.5", r"must be in \(0, 1\), or null for the estimated modified Kneser-Ney"),
    case("config-block-size-larger-than-data", "config", "transformer",
         [f"data.path={C}/shakespeare.txt", "data.kind=stream", "data.fractions=[0.99,0.01]",
          "transformer.model.block_size=64"],
         r"the val split has 60 tokens, too short for transformer.model.block_size=64",
         r"set transformer.model.block_size <= 59", fast=True),
    case("config-wavenet-context-not-power-of-two", "config", "wavenet", ["wavenet.model.context=6"],
         r"wavenet.model.context=6 must be a power of two >= 2", r"use 2, 4, 8 or 16", fast=True),
    case("config-batchnorm-one-row", "config", "wavenet",
         [f"data.path={C}/shakespeare.txt", "data.kind=stream", "data.fractions=[0.9,0.1]",
          "wavenet.train.batch_size=1", "wavenet.train.block_size=1"],
         r"BatchNorm: training statistics need at least 2 rows, got 1", r"use wavenet.train.batch_size >= 2"),
    case("config-batchnorm-every-position-targets", "config", "wavenet", ["wavenet.train.targets=all"],
         r"wavenet.train.targets='all' with BatchNorm lets a row's later positions leak",
         r"set wavenet.train.targets=last", fast=True),
    case("config-train-targets-unknown", "config", "mlp", ["mlp.train.targets=first"],
         r"mlp.train.targets='first'", r"must be all or last", fast=True),
    case("config-bow-block-size-zero", "config", "bow", ["bow.model.block_size=0"],
         r"bow.model.block_size=0", r"must be a positive integer"),
    case("config-pipeline-unknown-rung", "config", "evaluate", ["pipeline=[bigram,rnnn]"],
         r"pipeline=\['bigram', 'rnnn'\]: 'rnnn' is not a rung of the ladder",
         r"list each rung once, from bigram, mlp, .*transformer"),
    case("config-mlp-block-size-larger-than-data", "config", "mlp",
         [f"data.path={C}/shakespeare.txt", "data.kind=stream", "data.fractions=[0.99,0.01]",
          "mlp.train.block_size=100"],
         r"the val split has 60 tokens, too short for mlp.train.block_size=100",
         r"set mlp.train.block_size <= 59"),
    # ------------------------------------------------------------------ checkpoints
    case("ckpt-missing", "checkpoint", "cli", ["sample", f"{CK}/nope.safetensors"],
         r"no checkpoint at .*nope.safetensors", r"train first or check the path", fast=True),
    case("ckpt-truncated", "checkpoint", "cli", ["sample", f"{CK}/truncated.safetensors"],
         r"tensor 'optim.exp_avg.head.weight' ends at byte \d+ but the data buffer has \d+",
         r"the file was cut short \(an interrupted copy or a full disk\) — restore it or retrain"),
    case("ckpt-wrong-header", "checkpoint", "cli", ["sample", f"{CK}/text.safetensors"],
         r"header length \d+ exceeds", r"not an lmladder checkpoint — restore it or retrain"),
    case("ckpt-flipped-bit", "checkpoint", "cli", ["evaluate", f"{CK}/flipped.safetensors", f"--text={C}/names.txt"],
         r"checkpoint is corrupted \(checksum mismatch\)", r"restore it or retrain"),
    case("ckpt-shapes-disagree", "checkpoint", "cli", ["sample", f"{CK}/shapes.safetensors"],
         r"arrays do not match the mlp its metadata describes \(model.head.weight is \(27, 32\), the model needs "
         r"\(27, 40\)", r"restore it or retrain"),
    case("ckpt-huge-model-in-metadata", "checkpoint", "cli", ["sample", f"{CK}/huge.safetensors"],
         r"metadata describes a mlp of at least 1.23e\+11 parameters but the file holds 2,153 weights",
         r"restore it or retrain", fast=True),
    case("ckpt-ngram-unsorted", "checkpoint", "cli", ["sample", f"{CK}/ngram_unsorted.safetensors"],
         r"arrays do not load into the model its metadata describes \(NGram.load_state_dict: ngrams is not "
         r"strictly increasing", r"restore it or retrain"),
    case("ckpt-ngram-out-of-range", "checkpoint", "cli", ["evaluate", f"{CK}/ngram_out_of_range.safetensors",
                                                          f"--text={C}/names.txt"],
         r"NGram.load_state_dict: context2 points at context \d+ of \d+", r"restore it or retrain"),
    case("ckpt-vocab-disagrees-with-model", "checkpoint", "cli", ["sample", f"{CK}/vocab_mismatch.safetensors"],
         r"model vocab_size 27 differs from its tokenizer's 4 symbols", r"restore it or retrain"),
    case("ckpt-pickle", "checkpoint", "cli", ["sample", f"{CK}/pickle.safetensors"],
         r"looks like a pickle/PyTorch file; lmladder never unpickles files", r"convert it to safetensors", fast=True),
    case("ckpt-other-vocabulary-evaluate-text", "checkpoint", "cli", ["evaluate", GOOD, f"--text={C}/other_vocab.txt"],
         r"has the character 'F' \(U\+0046\) at line 1, column 1, which is not in the checkpoint's 27-symbol",
         r"score it with a checkpoint trained on similar text"),
    case("ckpt-other-vocabulary-evaluate-stage", "checkpoint", "evaluate",
         [f"data.path={C}/shakespeare.txt", "data.kind=stream", "data.fractions=[0.9,0.1]",
          "paths.outputs={sb}/outputs_names"],
         r"model.safetensors was trained with another vocabulary than", r"re-run training"),
    case("resume-missing-path", "checkpoint", "mlp", [f"resume={CK}/nope.safetensors"],
         r"resume=.*nope.safetensors: no checkpoint file there", r"give the path of a model.safetensors"),
    case("resume-truncated", "checkpoint", "mlp", [f"resume={CK}/truncated.safetensors"],
         r"truncated.safetensors: tensor .* ends at byte", r"the file was cut short .* restore it or retrain"),
    case("resume-pickle", "checkpoint", "mlp", [f"resume={CK}/pickle.safetensors"],
         r"looks like a pickle/PyTorch file", r"convert it to safetensors"),
    case("resume-other-model-config", "checkpoint", "mlp", [f"resume={GOOD}", "mlp.model.n_hidden=64"],
         r"cannot resume from .*good/model.safetensors: its model has mlp.model.n_hidden=32, "
         r"this run asks for mlp.model.n_hidden=64",
         r"resume with the same model settings, or start a new run"),
    case("resume-other-cell", "checkpoint", "rnn", [f"resume={GOOD_GRU}", "rnn.model.cell=lstm"],
         r"cannot resume from .*good_gru/model.safetensors: its model has rnn.model.cell='gru', "
         r"this run asks for rnn.model.cell='lstm'",
         r"resume with the same model settings, or start a new run"),
    case("resume-other-rung", "checkpoint", "rnn", [f"resume={GOOD}"],
         r"cannot resume from .*good/model.safetensors: it holds a mlp model, this run trains a rnn",
         r"resume it with rung=mlp, or start a new run"),
    case("resume-without-optimizer-state", "checkpoint", "mlp", [f"resume={CK}/no_optim.safetensors"],
         r"no_optim.safetensors: it holds no optimizer state \(it can sample and evaluate, not resume\)",
         r"resume from a model.safetensors written by training"),
    case("run-dir-has-a-checkpoint", "checkpoint", "mlp", ["hydra.run.dir={sb}/runs/good"],
         r"runs/good/model.safetensors already exists", r"pass resume=true to continue it, or use a new output dir"),
    # ------------------------------------------------------------------ sampling
    case("sample-prompt-outside-vocabulary", "sampling", "cli", ["sample", GOOD, "--prompt", "Zo"],
         r"--prompt has the character 'Z' \(U\+005A\) at position 0, which is not in the checkpoint's 27-symbol",
         r"remove it from the prompt", fast=True),
    case("sample-temperature-negative", "sampling", "cli", ["sample", GOOD, "--temperature", "-0.5"],
         r"--temperature -0.5", r"must be >= 0"),
    case("sample-top-p-zero", "sampling", "cli", ["sample", GOOD, "--top-p", "0"], r"--top-p 0.0", r"in \(0, 1\]"),
    case("sample-top-p-above-one", "sampling", "cli", ["sample", GOOD, "--top-p", "1.5"], r"--top-p 1.5",
         r"in \(0, 1\]"),
    case("sample-top-k-zero", "sampling", "cli", ["sample", GOOD, "--top-k", "0"], r"--top-k 0", r"must be >= 1"),
    case("sample-max-new-tokens-negative", "sampling", "cli", ["sample", GOOD, "--max-new-tokens", "-1"],
         r"--max-new-tokens -1", r"must be >= 0"),
    case("sample-num-samples-zero", "sampling", "cli", ["sample", GOOD, "--num-samples", "0"],
         r"--num-samples 0", r"must be >= 1"),
    # ------------------------------------------------------------------ lmladder evaluate --text
    case("evaluate-text-missing", "evaluate", "cli", ["evaluate", GOOD, f"--text={C}/nope.txt"],
         r"--text .*nope.txt: no such file", r"give the path of a text file"),
    case("evaluate-text-empty", "evaluate", "cli", ["evaluate", GOOD, f"--text={C}/empty.txt"],
         r"--text .*empty.txt is empty", r"give a file with text to score"),
    case("evaluate-text-blank-lines", "evaluate", "cli", ["evaluate", GOOD, f"--text={C}/blank_lines.txt"],
         r"line 3 is blank, but this checkpoint models one document per line", r"remove the blank lines",
         fast=True),
    case("evaluate-text-invalid-utf8", "evaluate", "cli", ["evaluate", GOOD, f"--text={C}/bad_utf8.txt"],
         r"is not valid UTF-8 \(byte 0xff at offset 8\)", r"re-save it as UTF-8"),
    case("evaluate-batch-size-zero", "evaluate", "cli", ["evaluate", GOOD, f"--text={C}/names.txt",
                                                          "--batch-size", "0"],
         r"--batch-size 0", r"must be >= 1"),
    # ------------------------------------------------------------------ lmladder report / compare
    case("report-folder-missing", "report", "cli", ["report", "{sb}/nope"],
         r"nope is not a folder", r"give a sweep folder .* or the pipeline's outputs/", fast=True),
    case("report-no-runs", "report", "cli", ["report", C],
         r"no runs under .*corpora: expected Hydra job folders", r"run a sweep first"),
    case("report-out-is-a-file", "report", "cli", ["report", "{sb}/outputs_names", "--out", f"{C}/names.txt"],
         r"cannot write .*names.txt/\w+\.\w+: File exists", r"a file is in the way of a directory"),
    case("compare-side-missing", "report", "cli", ["compare", "{sb}/nope.csv", REPORT],
         r"'.*nope.csv' is neither a file/folder nor REV:PATH", r"give a report folder or CSV", fast=True),
    case("compare-not-a-table", "report", "cli", ["compare", f"{C}/names.txt", REPORT],
         r"names.txt has neither an `n` nor a `seed` column", r"give a perplexity.csv or runs.csv"),
    case("compare-broken-json", "report", "cli", ["compare", f"{REPORT}/broken.json", REPORT],
         r"broken.json is not a report table \(", r"give a perplexity.csv, runs.csv or evaluate's metrics.json"),
    case("compare-metric-missing", "report", "cli", ["compare", REPORT, REPORT, "--metric", "test_ppl"],
         r"A \(.*reports\) has no test_ppl", r"this table has val_nll"),
    case("compare-timing-missing", "report", "cli", ["compare", REPORT, REPORT, "--metric", "tokens_per_s"],
         r"has no tokens_per_s", r"timings are in timing.csv beside a report on this machine"),
    case("compare-unknown-revision", "report", "cli", ["compare", "no-such-rev:", REPORT, "--repo", "{sb}"],
         r"cannot read outputs/reports/perplexity.csv at 'no-such-rev'", r"check the name with `git log`"),
]  # fmt: skip

BY_ID = {c.id: c for c in CASES}
assert len(BY_ID) == len(CASES), "case ids must be unique"
