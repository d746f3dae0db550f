"""Issue 70, classes 1-3: no command writes over a folder it did not write, no job over another job's status, and no
fit mixes two versions of a corpus. On real files: a tiny project with two finished runs, a finished two-point study,
a folder of documents and other commands' outputs.

Every command with an output option (found in the CLI's own parsers, so a new one cannot be forgotten) is pointed at
each folder it did not write, with --force where it has one: each is refused in one line (exit 2) and the folder is
byte-identical afterwards. Its own earlier output it replaces (with --force where it has one)."""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from lmladder.checkpoints import load_training_checkpoint, save_training_checkpoint
from lmladder.cli import build_parser
from lmladder.frontier.runs import read_runs
from lmladder.io import load_checkpoint, save_checkpoint
from lmladder.io.outputs import MARKER
from lmladder.models.transformer import GPT, GPTConfig

from .harness import THREADS, Sandbox, build_base, run_in_process, run_subprocess

PRESET = {
    "name": "two",
    "overrides": ["data.source=file", "data.path=corpora/names.txt"],
    "seeds": [0],
    "budgets": {"flops": [3.0e7]},
    "rungs": {"mlp": {"overrides": ["mlp.optim.schedule.warmup_iters=0", "mlp.sample.num_samples=1"],
                      "sizes": {"n_hidden": [8, 16]}}},
}  # fmt: skip
# every command with an output option -> its arguments (the output comes last: --out X, or export's positional X)
COMMANDS = {
    "inspect": ["inspect", "{sb}/runs/a"],
    "report": ["report", "{sb}/runs"],
    "compare": ["compare", "{sb}/runs/a", "{sb}/runs/b"],
    "diff": ["diff", "{sb}/runs/a", "{sb}/runs/b"],
    "export": ["export", "{sb}/gpt/model.safetensors", "--to", "hf"],
    "frontier plan": ["frontier", "plan", "{sb}/two.yaml"],
    "frontier fit": ["frontier", "fit", "{sb}/study"],
}
# folders no command wrote: a run, a study, documents (a small website too), the current folder, other outputs
TARGETS = ["keep_run", "study", "docs", "cwd", "other_output"]
OTHER_OUTPUT = {"report": "compare_out"}  # the output of another command: compare's, or report's for compare


def output_commands() -> dict[str, bool]:
    """Every (sub)command of `lmladder` with an output option (dest "out") -> whether it has --force."""
    found = {}

    def walk(parser: argparse.ArgumentParser, words: list[str]) -> None:
        for action in parser._actions:  # argparse lists a parser's options and subcommands nowhere else
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    walk(sub, [*words, name])
            elif action.dest == "out":
                found[" ".join(words)] = any(a.dest == "force" for a in parser._actions)

    walk(build_parser(), [])
    return found


def tree(folder: Path) -> dict[str, str]:
    """Every entry under `folder` (hidden ones too) -> sha256 of a file, "dir" for a folder."""
    out = {}
    for p in sorted(folder.rglob("*")):
        out[str(p.relative_to(folder))] = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
    return out


def cli(sb: Sandbox, *args: str):
    return run_in_process(sb, "cli", [sb.fmt(str(a)) for a in args], "")


def one_line_error(r, command: str) -> str:
    lines = r.stderr.strip().splitlines()
    assert r.rc == 2 and "Traceback" not in r.stderr, r.stderr[-3000:]
    assert lines and lines[-1].startswith(f"lmladder {command.split()[0]}: error: "), r.stderr[-3000:]
    return lines[-1]


def _gpt(path: Path, tokenizer) -> None:
    """A tiny GPT checkpoint (export --to hf takes GPTs only), of the names vocabulary."""
    c = GPTConfig(block_size=8, n_layer=1, n_head=2, n_embd=8, vocab_size=tokenizer.vocab_size)
    save_training_checkpoint(path, GPT(c, rng=np.random.default_rng(0)), tokenizer)


@pytest.fixture(scope="module")
def sb(tmp_path_factory) -> Sandbox:
    sb = build_base(tmp_path_factory.mktemp("folders"))
    root = sb.root
    for name, seed in (("a", 0), ("b", 1)):
        r = run_in_process(sb, "mlp", [f"seed={seed}"], str(root / "runs" / name))
        assert r.rc == 0, r.stderr
    shutil.copytree(root / "runs" / "a", root / "keep_run")
    _gpt(root / "gpt" / "model.safetensors", load_training_checkpoint(root / "runs/a/model.safetensors").tokenizer)
    (root / "two.yaml").write_text(yaml.safe_dump(PRESET, sort_keys=False))
    env = {k: v for k, v in os.environ.items() if k not in ("LMLADDER_DEBUG", "DVC_STAGE")} | THREADS
    for step in (["plan", "two.yaml", "--out", "study"], ["run", "study"]):
        r = subprocess.run([sys.executable, "-m", "lmladder", "frontier", *step], cwd=root, env=env, text=True,
                           capture_output=True, timeout=600)  # fmt: skip
        assert r.returncode == 0, r.stderr[-3000:]
    (root / "docs").mkdir()
    (root / "docs" / "notes.md").write_text("# my notes\n")
    (root / "docs" / "index.html").write_text("<h1>my site</h1>\n")  # what an inspect page also holds
    (root / "docs" / "logo.png").write_bytes(b"\x89PNG not really")
    assert cli(sb, "compare", "{sb}/runs/a", "{sb}/runs/b", "--out", "{sb}/compare_out").rc == 0
    assert cli(sb, "report", "{sb}/runs", "--out", "{sb}/report_out").rc == 0
    return sb


def test_the_commands_with_an_output_option_are_the_ones_tested_here():
    found = output_commands()
    assert set(found) == set(COMMANDS), f"a command with an output option untested here: {set(found) ^ set(COMMANDS)}"
    assert {c for c, force in found.items() if force} == {"diff", "export"}


def cli_in(folder: Path, sb: Sandbox, *args: str):
    """The command run in `folder` (its current folder), "{sb}" in its arguments standing for the module's sandbox
    and "{t}" for `folder`."""
    return run_in_process(Sandbox(folder), "cli", [sb.fmt(str(a)).replace("{t}", str(folder)) for a in args], "")


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_no_command_replaces_a_folder_it_did_not_write(sb, command, target, tmp_path):
    """Each run on copies (the current folder: a copy of a run), so a command that did write over one would not
    take the module's runs and study with it."""
    name = OTHER_OUTPUT.get(command, "report_out") if target == "other_output" else target
    folder = tmp_path if target == "cwd" else tmp_path / name
    shutil.copytree(sb.root / ("keep_run" if target == "cwd" else name), folder, dirs_exist_ok=True)
    before = tree(folder)
    out = "." if target == "cwd" else str(folder)
    args = [*COMMANDS[command], *([out] if command == "export" else ["--out", out])]
    for force in [False, True] if output_commands()[command] else [False]:
        message = one_line_error(cli_in(tmp_path, sb, *args, *(["--force"] if force else [])), command)
        problem = r"current folder|is not an earlier|holds .*, which .* reads|holds no plan|already holds a plan|is no "
        assert re.search(problem + "folder an export can replace", message), message
        assert re.search(r"give a new (folder|path|--out)|give another --out", message), message
        assert tree(folder) == before, f"{command} --out {target} changed what it did not write"


@pytest.mark.parametrize(
    "args",
    [
        ["frontier", "fit", "{t}/study", "--out", "{t}/study"],
        ["frontier", "fit", "{t}/study", "--out", "{t}/docs"],
        ["inspect", "{t}/a", "--out", "{t}/docs"],
        ["inspect", "{t}/a", "--out", "{t}/a"],
        ["diff", "{t}/a", "{t}/b", "--out", "{t}/a", "--force"],
        ["diff", "{t}/a", "{t}/b", "--out", "{t}", "--force"],  # $PWD: it runs in {t}
    ],
    ids=["fit-study-into-itself", "fit-into-documents", "inspect-into-documents", "inspect-into-its-run",
         "diff-into-a-force", "diff-into-cwd-force"],
)  # fmt: skip
def test_the_issue_70_cases_lose_nothing(sb, args, tmp_path):
    for src, name in (("study", "study"), ("docs", "docs"), ("runs/a", "a"), ("runs/b", "b")):
        shutil.copytree(sb.root / src, tmp_path / name)
    before = tree(tmp_path)
    one_line_error(cli_in(tmp_path, sb, *args), args[0])
    assert tree(tmp_path) == before


@pytest.mark.parametrize("command", ["inspect", "report", "compare", "diff", "export", "frontier fit"])
def test_each_command_replaces_its_own_earlier_output(sb, command, tmp_path):
    out = tmp_path / "out"
    args = [*COMMANDS[command], *([str(out)] if command == "export" else ["--out", str(out)])]
    force = ["--force"] if output_commands()[command] else []
    for _ in range(2):
        r = cli(sb, *args, *force)
        assert r.rc == 0, r.stderr[-3000:]
        marker = json.loads((out / MARKER).read_text())
        assert marker["writer"].startswith(f"lmladder {command}") and sorted(marker["entries"]) == sorted(
            p.name for p in out.iterdir() if p.name != MARKER
        )
    if force:  # without --force its own earlier output is refused too
        message = one_line_error(cli(sb, *args), command)
        assert "holds an earlier" in message and "pass --force to replace it" in message
    (out / "mine.txt").write_text("added by hand")  # then it is no longer only the command's own output
    message = one_line_error(cli(sb, *args, *force), command)
    assert "mine.txt added since" in message and (out / "mine.txt").read_text() == "added by hand"


def test_a_finished_sweep_run_again_into_its_folder_keeps_its_results(sb):
    sweep, unused = ["-m", "seed=0,1", "hydra.sweep.dir={sb}/sweep"], str(sb.root / "unused")
    first = run_in_process(sb, "mlp", sweep, unused)
    assert first.rc == 0, first.stderr
    before = tree(sb.root / "sweep")
    again = run_in_process(sb, "mlp", sweep, unused)
    lines = again.stderr.strip().splitlines()
    assert again.rc == 2 and "Traceback" not in again.stderr, again.stderr
    assert sum("that folder and its status are left as they were" in ln for ln in lines) == 2, again.stderr
    assert re.search(r"all 2 jobs of the sweep found their folders holding another run, and left them", lines[-1])
    assert lines[-1].endswith("give a new hydra.sweep.dir, or resume=true to continue them")
    after = tree(sb.root / "sweep")
    for job in ("0", "1"):  # Hydra rewrites .hydra/ (the same overrides: the same bytes) and appends to the log
        kept = {k: v for k, v in before.items() if k.startswith(job) and not k.endswith(".log")}
        assert {k: after[k] for k in kept} == kept
        assert json.loads((sb.root / "sweep" / job / "status.json").read_text())["status"] == "ok"
    r = cli(sb, "report", "{sb}/sweep")
    assert r.rc == 0 and "2 jobs, 2 finished" in r.stdout and "failed" not in r.stderr, r.stderr


HOLD = """
import sys
from pathlib import Path
from lmladder.frontier.study import study_lock
with study_lock(Path(sys.argv[1])):
    print("held", flush=True)
    sys.stdin.readline()
"""


def test_a_study_run_twice_at_once_is_refused_and_marks_nothing(sb):
    study = sb.root / "study"
    before = tree(study / "runs")
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(study)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert holder.stdout.readline() == "held\n"
        r = run_subprocess(sb, "cli", ["frontier", "run", str(study)], "")
    finally:
        holder.communicate("\n", timeout=120)
    message = one_line_error(r, "frontier run")
    assert f"study is being run by another `lmladder frontier run` (process {holder.pid})" in message
    assert "wait for it to end" in message and tree(study / "runs") == before


def test_runs_on_two_versions_of_one_corpus_file_are_not_one_frontier(sb, tmp_path):
    corpus = tmp_path / "names.txt"
    corpus.write_text((sb.root / "corpora" / "names.txt").read_text())
    data = [f"data.path={corpus}", f"paths.prepared={tmp_path}/prepared"]
    assert run_in_process(sb, "mlp", data, str(tmp_path / "runs" / "old")).rc == 0
    with corpus.open("a") as f:
        f.write("zoe\n")  # edited between the two runs: the same data settings, another text
    assert run_in_process(sb, "mlp", data, str(tmp_path / "runs" / "new")).rc == 0
    r = cli(sb, "frontier", "fit", str(tmp_path / "runs"), "--out", str(tmp_path / "fit"))
    message = one_line_error(r, "frontier fit")
    assert re.search(r"runs on two versions of the corpus text: .* sha256 is \w{12}, .* on \w{12}", message)
    assert "fit the runs of one version at a time" in message and not (tmp_path / "fit").exists()
    # a run trained before checkpoints recorded the digest is matched by its data settings alone, and named
    ckpt = tmp_path / "runs" / "old" / "model.safetensors"
    arrays, meta = load_checkpoint(ckpt)
    save_checkpoint(ckpt, arrays, {k: v for k, v in meta.items() if k != "corpus_sha256"})
    runs, corpus_info = read_runs([tmp_path / "runs"], lambda data: 1000)
    assert len(runs) == 2 and corpus_info["undigested"] == [str(tmp_path / "runs" / "old")]


def test_every_run_records_the_digest_of_its_corpus(sb):
    meta = load_training_checkpoint(sb.root / "runs" / "a" / "model.safetensors").meta
    stats = json.loads((sb.root / "data" / "prepared" / "stats.json").read_text())
    assert (
        meta["corpus_sha256"]
        == stats["sha256"]
        == hashlib.sha256((sb.root / "corpora" / "names.txt").read_bytes()).hexdigest()
    )


def test_compare_names_a_failed_run_as_one(sb):
    r = run_in_process(sb, "mlp", ["-m", "mlp.model.n_hidden=0", "hydra.sweep.dir={sb}/failed"], str(sb.root / "x"))
    assert r.rc == 2 and json.loads((sb.root / "failed" / "0" / "status.json").read_text())["status"] == "failed"
    message = one_line_error(cli(sb, "compare", "{sb}/runs/a", "{sb}/failed/0"), "compare")
    assert re.search(r"failed/0 is a run that failed \(.*n_hidden.*\), so it has no scores to compare", message)
    assert message.endswith("fix that and train it again, or compare finished runs")
