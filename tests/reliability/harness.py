"""A sandbox that looks like the project (conf/, stages/, data/prepared, a finished run, hostile files) in a
temporary folder, and two ways to drive an entry point in it: as a real subprocess, or in-process through the same
`main` functions (Hydra's included) for speed. The repository's own data/ and outputs/ are never touched."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import pickle
import runpy
import shutil
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from hydra._internal.hydra import Hydra

from lmladder.checkpoints import load_training_checkpoint, save_training_checkpoint
from lmladder.config import PAGES
from lmladder.data import BPETokenizer, DataConfig, load_prepared, prepare
from lmladder.inference.scoring import score_splits_units
from lmladder.inference.units import UNITS_FILE, load_units, save_units
from lmladder.io import load_checkpoint, save_checkpoint
from lmladder.models import rungs
from lmladder.models.transformer import GPT, GPTConfig

from ..shared_data import shared_file
from .bounds_files import build_bounds
from .branches_files import build_branches
from .diff5_files import build_diff5
from .frontier_files import build_frontier
from .readback_files import build_readback
from .round4_files import build_round4

ROOT = Path(__file__).resolve().parents[2]
# entry point -> (script, its fixed overrides): a rung trains through stages/train.py, as in dvc.yaml
STAGE_FILES = (
    {"check": ("check.py",), "prepare": ("prepare.py",), "evaluate": ("evaluate.py",)}
    | {f"page@{page}": (f"page_{page}.py",) for page in PAGES}
    | {rung: ("train.py", f"rung={rung}") for rung in rungs()}
)
THREADS = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}  # the CPU is shared
TINY = {
    "mlp.model.n_hidden": "32",
    "mlp.train.max_iters": "20",
    "mlp.train.eval.interval": "10",
    "mlp.train.eval.iters": "2",
    "mlp.train.checkpoint.interval": "10",
    "mlp.sample.num_samples": "2",
    "mlp.sample.sample_tokens": "20",
    "mlp.train.progress": "false",
    "rnn.model.n_hidden": "16",
    "rnn.train.max_iters": "20",
    "rnn.train.eval.interval": "10",
    "rnn.train.eval.iters": "2",
    "rnn.train.checkpoint.interval": "10",
    "rnn.sample.num_samples": "2",
    "rnn.sample.sample_tokens": "20",
    "rnn.train.progress": "false",
    "transformer.model.n_layer": "1",
    "transformer.model.n_head": "2",
    "transformer.model.n_embd": "16",
    "transformer.train.max_iters": "20",
    "transformer.train.eval.interval": "10",
    "transformer.train.eval.iters": "2",
    "transformer.train.checkpoint.interval": "10",
    "transformer.sample.num_samples": "2",
    "transformer.sample.sample_tokens": "20",
    "transformer.train.progress": "false",
    **{f"{r}.train.{k}": v for r in ("bow", "wavenet") for k, v in (("max_iters", "20"), ("eval.iters", "2"))},
    **{f"{r}.train.progress": "false" for r in ("bow", "wavenet")},
}


def write_marker(path: str) -> str:
    """What the pickle bomb runs if anything ever unpickles it: proof on disk."""
    Path(path).write_text("unpickled!")
    return "payload"


class _Bomb:
    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return write_marker, (self.marker,)


def split_flags(args) -> tuple[list[str], list[str]]:
    """Hydra's own options at the start of `args` (-m, --config-dir X, --config-name Y), which must come before the
    overrides on a command line, and the overrides."""
    flags, own = [], list(args)
    while own and own[0].startswith("-"):
        n = 1 if own[0] in ("-m", "--multirun") else 2
        flags, own = [*flags, *own[:n]], own[n:]
    return flags, own


@dataclass
class Sandbox:
    root: Path

    def fmt(self, arg: str) -> str:
        return arg.replace("{sb}", str(self.root))

    def base(self) -> dict[str, str]:
        """Overrides every stage run gets: the small names corpus, prepared data and outputs inside the sandbox."""
        sb = self.root
        return {
            "data.source": "file",
            "data.path": f"{sb}/corpora/names.txt",
            "paths.prepared": f"{sb}/data/prepared",
            "paths.outputs": f"{sb}/outputs",
            "paths.reports": f"{sb}/outputs/reports",
            "data.raw_dir": f"{sb}/raw",
            **TINY,
        }

    def stage_argv(self, stage: str, args, run_dir: str) -> list[str]:
        """Overrides as Hydra sees them: the base ones unless the case sets the same key; the case's own last."""
        flags, own = split_flags([self.fmt(a) for a in args])
        keys = {a.lstrip("+~").split("=", 1)[0] for a in own}
        base = [f"{k}={v}" for k, v in self.base().items() if k not in keys]
        run = [] if "hydra.run.dir" in keys else [f"hydra.run.dir={run_dir}"]
        script, *fixed = STAGE_FILES[stage]
        return [str(self.root / "stages" / script), *flags, *fixed, *base, *own, *run]

    def snapshot(self) -> dict[str, tuple]:
        """Every file that must survive any failing command unchanged: its stat (`stat_key`; None for a file
        changed less than RACY_NS before, as git's racy entries: a write in the same clock tick keeps ctime) and
        its sha256."""
        out, start = {}, time.time_ns()
        tops = (
            "corpora",
            "data/prepared",
            "runs/good",
            "runs/good_gru",
            "outputs",
            "outputs_names",
            "outputs_bad_metrics",
            "ckpt",
            "reports",
            "units",
            "readback",
            "frontier",
            "diff5",
        )
        for top in tops:
            for p in sorted((self.root / top).rglob("*")):
                if p.is_file():
                    key = stat_key(p)
                    key = None if key[3] > start - RACY_NS else key
                    out[str(p.relative_to(self.root))] = (key, hashlib.sha256(p.read_bytes()).hexdigest())
        return out

    def changed(self, before: dict[str, tuple]) -> list[str]:
        """The files of a `snapshot` that vanished or whose bytes differ now. A file whose inode, size, mtime and
        ctime are all unchanged was not written since, so it is not read again (the 87 MiB of big corpora took
        ~0.2 s a case): the kernel sets ctime on every write and every utime, and no call sets it back."""
        out = []
        for rel, (key, digest) in before.items():
            p = self.root / rel
            try:
                if stat_key(p) != key and hashlib.sha256(p.read_bytes()).hexdigest() != digest:
                    out.append(rel)
            except OSError:  # gone, or no longer a file
                out.append(rel)
        return out


RACY_NS = 100_000_000  # 0.1 s: far more than a clock tick of the file systems' ctime (1-10 ms)


def stat_key(p: Path) -> tuple[int, int, int, int]:
    st = p.stat()
    return st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns


@dataclass
class Result:
    rc: int
    stdout: str
    stderr: str


def run_subprocess(
    sb: Sandbox,
    entry: str,
    args,
    run_dir: str,
    env: dict | None = None,
    timeout=120,
    preexec=None,
    stdout=None,
    stdin: str | None = None,
) -> Result:
    """`entry`: a stage name, "cli" (python -m lmladder ARGS) or "python" (python ARGS, e.g. inject.py). `stdout`:
    a file to write it to (its Result.stdout is then empty), else it is captured. `stdin`: a file to read it from."""
    if entry == "cli":
        argv = [sys.executable, "-m", "lmladder", *[sb.fmt(a) for a in args]]
    elif entry == "python":
        argv = [sys.executable, *[sb.fmt(a) for a in args]]
    else:
        argv = [sys.executable, *sb.stage_argv(entry, args, run_dir)]
    full_env = {k: v for k, v in os.environ.items() if k not in ("DVC_STAGE", "LMLADDER_DEBUG", "HYDRA_FULL_ERROR")}
    full_env.update(THREADS, PYTHONUNBUFFERED="1", **(env or {}))
    pipes = dict(stdout=stdout or subprocess.PIPE, stderr=subprocess.PIPE)
    with open(sb.fmt(stdin), "rb") if stdin else contextlib.nullcontext(None) as f:
        r = subprocess.run(
            argv, cwd=sb.root, env=full_env, text=True, timeout=timeout, preexec_fn=preexec, stdin=f, **pipes
        )
    return Result(r.returncode, r.stdout or "", r.stderr)


def _mode_probe(hydra_app, config_name, overrides):
    """Hydra.get_mode for in-process runs: Hydra composes the whole config once only to read hydra.mode, then again
    for the run. No file of conf/ sets hydra.mode (test_in_process_runs_skip_only_hydras_mode_probe), so for conf/
    the probe's answer is None, Hydra's default; a run that names a mode, or another config folder, still probes."""
    if "--config-dir" in sys.argv or any(o.lstrip("+~").split("=", 1)[0] == "hydra.mode" for o in overrides):
        return HYDRA_GET_MODE(hydra_app, config_name, overrides)
    return None


HYDRA_GET_MODE = Hydra.get_mode  # Hydra's own (hydra._internal: no public name for the class)


def run_in_process(sb: Sandbox, entry: str, args, run_dir: str, stdin: str | None = None, env=None) -> Result:
    """The same entry point in this interpreter: a stage's Hydra `main` via runpy (sys.argv as on the command
    line; Hydra's mode probe skipped, `_mode_probe`), or `lmladder.cli.main`. An exception that escapes is
    reported the way Python would: a traceback. `stdin`: a file to read standard input from; `env`: environment
    variables set while it runs."""
    out, err = io.StringIO(), io.StringIO()
    saved = sys.argv[:], os.getcwd(), sys.path[:], os.environ.copy()  # env: the case's own variables
    saved_stdin = sys.stdin
    rc = 0
    try:
        if stdin:
            sys.stdin = io.TextIOWrapper(io.BytesIO(Path(sb.fmt(stdin)).read_bytes()))
        os.environ.update(env or {})
        os.chdir(sb.root)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                if entry == "cli":
                    from lmladder.cli import main

                    rc = main([sb.fmt(a) for a in args])
                else:
                    sys.argv = sb.stage_argv(entry, args, run_dir)
                    sys.path.insert(0, str(sb.root / "stages"))
                    Hydra.get_mode = _mode_probe
                    runpy.run_path(sys.argv[0], run_name="__main__")
            except SystemExit as e:
                rc = e.code if isinstance(e.code, int) else 1
            except Exception:  # noqa: BLE001 - exactly what a user would see: a traceback
                err.write(traceback.format_exc())
                rc = 1
    finally:
        Hydra.get_mode = HYDRA_GET_MODE
        sys.stdin = saved_stdin
        sys.argv[:], sys.path[:] = saved[0], saved[2]
        os.chdir(saved[1])
        os.environ.clear()
        os.environ.update(saved[3])
    return Result(rc, out.getvalue(), err.getvalue())


def build_base(root: Path) -> Sandbox:
    """What every sandbox starts from: conf/ and stages/ copies, the first 1,500 names (corpora/names.txt) prepared
    into data/prepared. Enough for a test that trains its own runs (build_sandbox trains several: seconds)."""
    for d in ("conf", "stages"):
        shutil.copytree(ROOT / d, root / d, ignore=shutil.ignore_patterns("__pycache__"))
    c = root / "corpora"
    c.mkdir()
    names = shared_file("names.txt").read_text().splitlines()[:1500]
    (c / "names.txt").write_text("\n".join(names) + "\n")
    prepare(DataConfig(source="file", path=str(c / "names.txt")), root / "data" / "prepared")
    return Sandbox(root)


def train_good(sb: Sandbox) -> Path:
    """The finished tiny MLP run of the base config (TINY) in runs/good: its folder."""
    good = sb.root / "runs" / "good"
    r = run_in_process(sb, "mlp", [], str(good))
    assert r.rc == 0 and (good / "model.safetensors").exists(), r.stderr
    return good


def build_sandbox(root: Path) -> Sandbox:
    """conf/ and stages/ copies, small corpora, names prepared into data/prepared, one finished tiny MLP run
    (runs/good, also as outputs_names/mlp/seed0 for the evaluate stage), a tiny GRU run (runs/good_gru), a fitted
    trigram (runs/ngram), hostile checkpoint files, a report table (reports/perplexity.csv) with a broken
    metrics file beside it, edited copies of files lmladder reads back (readback/, readback_files.py) and what the
    `lmladder frontier` cases read (frontier/, frontier_files.py)."""
    sb = build_base(root)
    c = root / "corpora"
    (c / "shakespeare.txt").write_text(shared_file("tinyshakespeare.txt").read_text()[:6000])
    (c / "tiny_stream.txt").write_text("First Citizen: Before we proceed any further, hear me speak.\n")
    (c / "empty.txt").write_bytes(b"")
    (c / "blank_lines.txt").write_text("anna\nbob\n\ncarl\n")
    (c / "bad_utf8.txt").write_bytes(b"anna\nbob\xff\xfe\ncarl\n")
    (c / "big_bad_utf8.txt").write_bytes(b"to be or not\n" * (1 << 22) + b"\xff")  # 52 MiB: prepared streaming
    (c / "big_blank_line.txt").write_bytes(b"anna\n" * (7 << 20) + b"\nbob\n")  # 35 MiB of lines, one blank
    (c / "two_lines.txt").write_text("anna\nbob\n")
    (c / "eot.txt").write_text("First Citizen:<|endoftext|>Before we proceed any further, hear me speak.\n" * 3)
    speech = "First Citizen: Before we proceed any further, hear me speak.\n"
    (c / "eot_val.txt").write_text(speech * 9 + "<|endoftext|>\n")  # in the last 10%: the val split
    (c / "spaces.txt").write_text("   \n\t \n" * 20)
    (c / "other_vocab.txt").write_text("First Citizen:\nBefore we proceed any further, hear me speak.\n")
    _not_regular_files(c)
    good = train_good(sb)
    r = run_in_process(sb, "rnn", [], str(root / "runs" / "good_gru"))  # a GRU checkpoint (resume as another cell)
    assert r.rc == 0, r.stderr
    seed0 = root / "outputs_names" / "mlp" / "seed0"
    seed0.mkdir(parents=True)
    shutil.copy2(good / "model.safetensors", seed0 / "model.safetensors")
    _hostile_checkpoints(root / "ckpt", good / "model.safetensors")
    ngram = root / "runs" / "bigram"
    r = run_in_process(sb, "bigram", ["bigram.model.order=3", "bigram.sample.num_samples=2"], str(ngram))
    assert r.rc == 0, r.stderr
    _tampered_ngram(root / "ckpt", ngram / "model.safetensors")
    (root / "reports").mkdir()
    (root / "reports" / "perplexity.csv").write_text("rung,n,val_nll,val_nll_std\nmlp,2,2.1,0.01\nbigram,2,2.45,0.0\n")
    (root / "reports" / "broken.json").write_text('{"mlp": {"val_nll": 2.1')  # cut short
    (root / "reports" / "empty.csv").write_bytes(b"")
    (root / "reports" / "binary.csv").write_bytes(bytes(range(256)) * 4)
    bad_metrics = root / "outputs_bad_metrics" / "mlp" / "seed0"
    bad_metrics.mkdir(parents=True)
    (bad_metrics / "metrics.json").write_text('{"val": {"nll": 2.1, "ppl"')  # cut short (an editor, a full disk)
    _unit_cases(root / "units", good, c / "names.txt")
    ev = run_in_process(sb, "cli", ["evaluate", str(good / "model.safetensors"), f"--text={c}/names.txt"], "")
    assert ev.rc == 0, ev.stderr
    build_readback(root, ev.stdout)
    build_frontier(root, lambda rung, args, run_dir: _must(run_in_process(sb, rung, args, run_dir)))
    build_round4(root)
    build_bounds(root)
    build_diff5(root)
    build_branches(root)
    return sb


def _must(r: Result) -> None:
    assert r.rc == 0, r.stderr


def _unit_cases(d: Path, good: Path, names: Path) -> None:
    """Copies of the good run whose units.npz is cut short, disagrees with metrics.json, or (with metrics.json to
    match) comes from another split of the names (split_seed=7): what `lmladder compare` must refuse."""
    for name in ("half", "tampered", "other_split"):
        shutil.copytree(good, d / name)
    raw = (good / UNITS_FILE).read_bytes()
    (d / "half" / UNITS_FILE).write_bytes(raw[: len(raw) // 2])
    units = load_units(good / UNITS_FILE)
    units["val"].nll = units["val"].nll * 1.05
    save_units(d / "tampered" / UNITS_FILE, units)
    prepare(DataConfig(source="file", path=str(names), split_seed=7), d / "prepared7")
    data = load_prepared(d / "prepared7")
    scores, units = score_splits_units(load_training_checkpoint(good / "model.safetensors").model, data)
    metrics = json.loads((good / "metrics.json").read_text())
    (d / "other_split" / "metrics.json").write_text(json.dumps({**metrics, **scores}))
    save_units(d / "other_split" / UNITS_FILE, units)


def _not_regular_files(c: Path) -> None:
    """Paths that exist but are no file to read: opening the FIFO would block, a loop fails on stat."""
    (c / "a_folder").mkdir()
    os.mkfifo(c / "fifo.txt")
    (c.parent / "sparse").mkdir()  # outside the snapshot: hashing a terabyte would take hours
    with open(c.parent / "sparse" / "huge.txt", "wb") as f:  # 8 TiB that take no disk (a sparse file)
        f.truncate(1 << 43)
    os.symlink(c / "loop_b.txt", c / "loop_a.txt")
    os.symlink(c / "loop_a.txt", c / "loop_b.txt")


def _tampered_ngram(d: Path, good: Path) -> None:
    """Checksum-valid n-gram checkpoints whose sparse count arrays no fit could have written."""
    arrays, meta = load_checkpoint(good)
    unsorted = {**arrays, "model.ngrams": arrays["model.ngrams"][::-1].copy()}
    save_checkpoint(d / "ngram_unsorted.safetensors", unsorted, meta)
    out_of_range = {**arrays, "model.context2": arrays["model.context2"] + 10**6}
    save_checkpoint(d / "ngram_out_of_range.safetensors", out_of_range, meta)


def _hostile_checkpoints(d: Path, good: Path) -> None:
    d.mkdir()
    raw = good.read_bytes()
    (d / "truncated.safetensors").write_bytes(raw[: len(raw) // 2])
    (d / "text.safetensors").write_text("this is not a checkpoint, just text renamed\n" * 3)
    flipped = bytearray(raw)
    flipped[-10] ^= 0x01  # one bit of the last weight
    (d / "flipped.safetensors").write_bytes(bytes(flipped))
    arrays, meta = load_checkpoint(good)
    shapes = {**meta, "model": {**meta["model"], "config": {**meta["model"]["config"], "n_hidden": 40}}}
    save_checkpoint(d / "shapes.safetensors", arrays, shapes)  # checksum-valid, but the arrays are for 32 units
    huge = {**meta, "model": {**meta["model"], "config": {**meta["model"]["config"], "n_embd": 10**9}}}
    save_checkpoint(d / "huge.safetensors", arrays, huge)
    other = {**meta, "tokenizer": {"type": "char", "lines": True, "chars": "abc", "unk": None}}
    save_checkpoint(d / "vocab_mismatch.safetensors", arrays, other)
    bpe = BPETokenizer.train("a rose by any other name would smell as sweet " * 4, 270).to_dict()
    edited = {**meta, "tokenizer": {**bpe, "merges": [[98, 97], *bpe["merges"][1:]]}}  # checksum left as it was
    save_checkpoint(d / "bpe_edited.safetensors", arrays, edited)
    no_optim = {k: v for k, v in arrays.items() if k.startswith("model.")}
    save_checkpoint(d / "no_optim.safetensors", no_optim, {k: v for k, v in meta.items() if k != "optimizer"})
    nan = {**arrays, "model.head.weight": arrays["model.head.weight"].copy()}
    nan["model.head.weight"][0, :3] = [np.nan, np.inf, -np.inf]
    save_checkpoint(d / "nan_weights.safetensors", nan, meta)  # checksums valid: re-saved, not corrupted
    name = next(k for k in arrays if k.startswith("optim.") and k.endswith(".head.bias") and "sq" in k)
    inf = {**arrays, name: np.full_like(arrays[name], np.inf)}
    save_checkpoint(d / "inf_moments.safetensors", inf, meta)
    rank1 = np.random.default_rng(1).bit_generator.state  # a checkpoint of 2 MPI ranks (training/parallel.py)
    save_checkpoint(d / "two_ranks.safetensors", arrays, {**meta, "world_size": 2, "rank_rngs": [rank1]})
    save_checkpoint(d / "bad_world_size.safetensors", arrays, {**meta, "world_size": "two"})
    tok = load_training_checkpoint(good).tokenizer  # GPTs for lmladder export: GPT-2's layout, and one it cannot hold
    lookback = {"lookback": {"smear": {"enabled": True}, "ngram": {"order": 2}}}  # no GPT-2 equivalent either
    for name, opts in (("gpt", {}), ("rmsnorm_gpt", {"norm": "rmsnorm"}), ("lookback_gpt", lookback)):
        c = GPTConfig(block_size=8, n_layer=1, n_head=2, n_embd=8, vocab_size=tok.vocab_size, **opts)
        save_training_checkpoint(d / f"{name}.safetensors", GPT(c, rng=np.random.default_rng(0)), tok)
    shutil.copy(ROOT / "tests" / "fixtures" / "gpt" / "bigram_ngram.safetensors", d / "old_bigram_ngram.safetensors")
    bomb = {"weights": np.zeros(3).tolist(), "payload": _Bomb(d / "UNPICKLED")}
    (d / "pickle.safetensors").write_bytes(pickle.dumps(bomb, protocol=4))
