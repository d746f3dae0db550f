"""Regenerate docs/errors.md from the actual output of every case in cases.py (real subprocesses, ~1 minute):

python -m tests.reliability.make_errors_doc
"""

from __future__ import annotations

import os
import shlex
import sys
import tempfile
from pathlib import Path

from .cases import CASES
from .harness import ROOT, STAGE_FILES, build_sandbox, run_subprocess, split_flags
from .scenarios import SCENARIOS

GROUPS = {
    "corpus": "Corpus",
    "config": "Configuration",
    "memory": "Memory: requests estimated before anything is allocated",
    "checkpoint": "Checkpoints (sample, evaluate, resume)",
    "sampling": "`lmladder sample` options",
    "evaluate": "`lmladder evaluate --text`",
    "report": "`lmladder report` and `lmladder compare`",
    "export": "`lmladder export`",
    "live": "The run's live log (DVCLive)",
    "frontier": "`lmladder frontier` (docs/frontier.md)",
    "diff": "`lmladder diff`, single runs in `lmladder compare`, `lmladder inspect --data` (docs/cli.md)",
    "muon": "Muon's options as the field runs it (`<rung>.optim.muon`, docs/models.md)",
    "lookback": "The GPT's look-backs (`transformer.model.lookback`: `smear`, `ngram`, `conv`, docs/models.md) and "
    "the flat keys they had before",
    "average": "Weight averaging (`train.average`, docs/models.md)",
    "teacher": "The n-gram teacher (`train.teacher`, docs/models.md)",
}

HEAD = """# Errors: what lmladder says when something is wrong

Every message below is one line on stderr, `lmladder <stage or command>: error: <problem>; <fix>`, and the exit code
is 2; no traceback is shown, and nothing that existed before (prepared data, checkpoints, outputs) is modified.
Errors that Hydra itself reports (an unknown config group, an override of a key that does not exist) exit with 1
and end with Hydra's pointer to the full trace.

**Debugging:** set `LMLADDER_DEBUG=1` to get the full Python traceback instead of the one-line message
(for Hydra's own errors: `HYDRA_FULL_ERROR=1`).

**Interruptions:** checkpoints, prepared data, metrics and reports are written to a temporary file and renamed into
place, with sha256 checksums in every checkpoint that are verified on load, so a crash, `kill -9` or full disk leaves
the previous file or the complete new one, never half of one. Re-launch a killed training run with `resume=true`
and the same `hydra.run.dir`: it continues from its last checkpoint (or starts over if it had none yet), drops log
rows written after that checkpoint and any temporary a killed write left behind, and ends with the same bytes as an
uninterrupted run (`tests/reliability/test_kill_resume.py`). Under `dvc repro` just run `dvc repro` again: a stage
trains in `outputs/.partial/<rung>/seed<N>`, out of reach of DVC's deleting a stage's outputs before it runs, and
continues from there when its settings, seed and data are the same (`tests/test_pipeline_e2e.py`). Ctrl-C always
stops a run, even when it lands in a finaliser, where Python swallows a KeyboardInterrupt: the run stops at its next
step (`tests/reliability/test_interrupt.py`). One that lands while a stage or command is still starting (loading its
modules, Hydra composing the config) is the same one line and exit status 130 (`tests/reliability/test_bounds.py`).

**A bad setting under DVC deletes nothing:** DVC deletes a stage's outputs just before it runs the stage, so
`dvc repro` starts with the `check` stage (`stages/check.py`): it validates the whole composed params.yaml (the data
source, every rung of `pipeline`, the seeds; what only a built model can tell, Muon's hidden matrices and BatchNorm
under `targets=all`, on a stand-in of the rung's sizes) and every other stage runs after it. `dvc exp run -S
rnn.model.n_embd=0` stops there with the line below and leaves every output (and its timing.json) as it was;
fix the override, or `git checkout params.yaml`, and run again (`config-check-*` below;
`tests/test_pipeline_e2e.py`). Run it by hand on conf/ with `python stages/check.py <overrides>`.

**Files read back:** what lmladder wrote and reads again is checked before it is used: prepared data against the
sha256 of each file in its manifest.json (recorded at prepare; a folder without one is prepared again, or named
under DVC), a run's metrics.json, timing.json and health.json field by field, Hydra's `.hydra/*.yaml`, and report
tables cell by cell (one row per setting, counts and spreads >= 0). A run whose metrics.json holds a NaN or
infinite score is listed as failed, never averaged.

**Standard output:** a write to stdout that fails (`> /dev/full`, a file-size limit, a disk that fills up) ends any
command or stage at once, whether the write was a print, a log line or the flush at exit: one line naming the problem
and the fix, exit code 2 (`stdout-*` below). A closed pipe (`| head -1`) ends it quietly with exit code 141, as any
Unix filter. Files are not affected: they are written atomically, as above.

**Memory:** a request is estimated before anything is allocated and refused when it cannot fit (the message gives
the estimate and what is available); `LMLADDER_MEMORY_LIMIT=8G` caps what lmladder plans for, in every command
and stage (whole bytes, or a size with a unit of K, M, G or T, powers of 1024: `512M`, `0.5G`, `8 GB`; a refusal it
causes names it, `memory-limit-*` below). The estimates (`src/lmladder/resources.py`): a
model's weights from its sizes, a checkpoint's arrays from its header before any is read, a training step's,
scoring's and a beam search's activations from short probe steps (forward + backward of one and two rows, counted
by tracemalloc, in `training/budget.py`; within 2x of a measured step for every rung from a few MB to a few
hundred, `tests/training/test_budget.py`; a model that reads a window of more than 256 tokens per position, an MLP
or a WaveNet, is probed through copies of context 128 and 256 and extrapolated, so a context of 2^20 is refused in
seconds), text files from their size. On a machine with 22.1 GiB free, for example: `a training step of
transformer.train.batch_size=1000000000 rows x 16 tokens (326.6 KiB per row) needs about 304.2 TiB of memory, but
22.1 GiB is available; lower transformer.train.batch_size= ...`.

**Checks before any work:** every config field declares its valid set or range next to it (`src/lmladder/rules.py`
checks them all before any work starts); every file a user names is checked to be a regular file before it is
opened (a directory, FIFO, symlink loop or device is named as such, and nothing waits on a pipe); checkpoints are
safetensors files (lmladder never unpickles anything), and one with NaN/inf weights is refused at load with the
tensor's name; a run folder is locked for the run (a second run into it stops at once); `seeds` may not repeat and
a resume may not change the seed.

**Settings that would change nothing:** a feature's settings are a block under their owner (`optim.muon`,
`optim.schedule.wsd`, `train.average`, `train.teacher`, `data.bpe`, `data.babynames`), and a setting that the chosen
optimizer, schedule, average, teacher, tokenizer or source does not read must stay at its default: set, it is refused
with the choice that reads it (`config-cooldown-under-cosine`, `muon-option-under-adamw`,
`average-warmup-without-ema`, `config-data-bpe-under-char`, ...), where it used to be ignored. The flat keys of before
(`optim.muon_lr`, `optim.schedule=wsd`, `train.ema`, `train.eval_interval`, `data.vocab_size`, ...) are refused with
their new key, on the command line before Hydra composes it or in a preset (`*-renamed-*`).

**Kernels:** float32 GELU, layer norm, attention's softmax and AdamW's update run as compiled numba kernels;
`LMLADDER_KERNELS=numpy` turns all of lmladder.fast off and runs the textbook code instead
(slower; the same results to float32 rounding). Any other value is refused (`kernels-env-unknown` below).
`LMLADDER_GEMM=mkl` sends the matrix products to Intel MKL instead of NumPy's OpenBLAS (`pip install -e '.[mkl]'`;
other bits, docs/parallel.md); an unknown library or a missing MKL is refused before any work (`gemm-env-unknown`,
`gemm-mkl-missing`).

**Platforms:** the messages are the same on Linux, macOS and Windows: cores, memory, locks and file checks go through
portable libraries (psutil, filelock), never through Linux-only calls (`tests/test_portability.py` runs the stages
with those calls removed). The run lock (`run-folder-in-use` below) is the OS's own lock on each (flock on Linux and
macOS, LockFileEx on Windows), released when its holder dies, so a killed run never leaves its folder locked; the
memory check reads the OS's available memory and, in a Linux container, its cgroup limit. `LMLADDER_GEMM=mkl` needs
an x86-64 CPU (`gemm-mkl-missing`). Where NumPy has no OpenBLAS (its macOS wheels use Accelerate), a training run's
log says `kernels: compiled, GEMMs by NumPy's matmul; ...`: not an error, the numbers then differ from
Linux's within float32 round-off ([platforms.md](platforms.md)). A sweep job that finds another job preparing the same
data says `waiting for another process that prepares data/cache/<name>-<key>` and goes on once it is ready.

**What the newest features do with careless input (issue 47):** `lmladder export --force` replaces only an earlier
export of the same format (an hf folder of its five files, a GGUF file, an ARPA file), never a folder of documents
or a text (`export-force-*`), and a killed export's temporaries go with the next export to that path. A corpus that
changes while it is prepared is refused before the folder is renamed into place: the encoding pass hashes what it
reads again, and size and modification time are checked (`corpus-edited-during-prepare`). A killed joblib sweep job
(`kill -9`, the out-of-memory killer) is marked failed with one line, and the other jobs run (`hydra/launcher=
joblib_2`: each job in a worker of its own; `tests/reliability/test_round4.py`). A deleted live log is rebuilt from
train_log.tsv and eval_log.tsv on resume (6 significant digits). The mixture logs lam and what it was fitted on, and
says when lam = 0 or 1 is one component alone. `lmladder compare` judges two tokenizers of one text by bits per
character, gives no interval or verdict over fewer than 20 shared units, lists failed jobs, and explains a paired
verdict that differs from the seed-spread one ([comparing.md](comparing.md)); `--no-units` leaves out unit scores
(a broken units file at a git revision cannot be deleted). Known limit: runs pair only when their tokens decode to
the same split text, so a word model whose vocabulary leaves words unknown (`<unk>`) never pairs with a char model;
`compare` says so, and `--no-units` compares them without the paired test.

**Sizes a user gives, bounded before any work (issue 70):** YAML that lmladder reads (a frontier preset, a sweep
job's `.hydra/*.yaml`) is counted with its aliases expanded before it is built, at most 10,000 values and keys (a
"billion laughs" of 300 bytes is refused at once); `calibration_steps` is at most 1000, `frontier fit --bootstrap`
at most 10,000, a planned point at most 10^8 steps; the n-gram teacher's tables are estimated against the memory
available before they are built, naming the longest order that fits. `OMP_NUM_THREADS` is read as OpenMP reads it
(`4,2`: 4 threads, 2 in each nested region; blank is unset), and a missing psutil is one line naming `pip install`.
**Output folders, sweeps and studies (issue 70):** a command that writes a folder (`inspect`, `report`, `compare
--out`, `diff`, `frontier fit`, `export --to hf`) leaves a marker in it (`.lmladder-output.json`) and replaces only
its own earlier output; a run, a study, a folder of documents, the current folder, another command's output or a
folder it reads is refused in one line, with or without `--force` (`*-out-*` below; every command against every such
folder: `tests/reliability/test_output_folders.py`). A sweep job whose folder holds another run leaves it, its
`status.json` included, as it was (`sweep-run-again`); one `frontier run` of a study at a time (`study-in-use`);
every checkpoint records the sha256 of its corpus text, and a fit of two versions of one corpus file is refused
(`fit-two-versions-of-a-corpus`).

Generated from the actual output of the tests in `tests/reliability/` (`python -m tests.reliability.make_errors_doc`):
each stage command also gets the small test corpus and sandbox paths (`data.source=file data.path=... paths.*=...`),
left out below; `<tmp>` is the test's temporary folder.
"""


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", "<br>")


def _command(entry: str, args) -> str:
    # argv bytes that are not UTF-8 (os.fsdecode(b"\xff") == "\udcff") are shown as \xff: the page is UTF-8
    args = [os.fsencode(a).decode("utf-8", "backslashreplace") for a in args]
    if entry == "cli":
        return "lmladder " + shlex.join(args)
    script, *fixed = STAGE_FILES[entry]
    flags, own = split_flags(args)
    return f"python stages/{script} " + shlex.join([*flags, *fixed, *own])


def _message(stderr: str, hydra: bool) -> str:
    lines = [ln for ln in stderr.strip().splitlines() if ln.strip()]
    if hydra:
        keep = [ln.strip() for ln in lines if not ln.startswith("\t") and "provider=" not in ln]
        return " / ".join(k for k in keep if k != "Config search path:")
    return lines[-1] if lines else ""


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        sb = build_sandbox(Path(tmp))
        short = lambda s: s.replace(str(sb.root), "<tmp>")  # noqa: E731
        out = [HEAD]
        for group, title in GROUPS.items():
            out += [f"\n## {title}\n", "| Case | Command | Message | Exit code |", "|---|---|---|---|"]
            for c in (c for c in CASES if c.group == group):
                r = run_subprocess(sb, c.entry, c.args, str(sb.root / "runs" / c.id), stdin=c.stdin, env=dict(c.env))
                cmd = "".join(f"{k}={shlex.quote(v)} " for k, v in c.env) + _command(c.entry, c.args)
                cmd += f" < {c.stdin}" if c.stdin else ""
                cmd = short(cmd.replace("{sb}", "<tmp>"))
                out.append(f"| `{c.id}` | `{_cell(cmd)}` | {_cell(short(_message(r.stderr, c.hydra)))} | {r.rc} |")
                print(c.id, r.rc, file=sys.stderr)
        out += ["\n## Faults during a run\n", "| Case | What happens | Message | Exit code |", "|---|---|---|---|"]
        for s in SCENARIOS:
            message, rc = s.run(sb)
            out.append(f"| `{s.id}` | {_cell(s.what)} | {_cell(short(message))} | {rc} |")
            print(s.id, rc, file=sys.stderr)
    (ROOT / "docs").mkdir(exist_ok=True)
    (ROOT / "docs" / "errors.md").write_text("\n".join(out) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
