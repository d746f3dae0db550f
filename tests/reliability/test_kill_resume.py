"""kill -9 a real training stage again and again, re-launch it with resume=true each time: the result is the
uninterrupted run's, byte for byte (weights, Adam moments, RNG states, best checkpoint, logs, samples), with the
weights averaged (an EMA from step 100: kills before and after its start) or not.

Kills come from a seeded timer (random moments: start-up, a training step, ...) and from inject.py, which plants
the SIGKILL at the moments a timer rarely hits: half-way through a checkpoint's bytes, between a complete temporary
and its rename, inside an evaluation, inside the exact scoring after training. Where each kill landed is read
back from what it left on disk and printed (run with -s to see the table). Slow: ~20 s each.
"""

import hashlib
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from lmladder.io import load_checkpoint

from .harness import THREADS, build_sandbox, run_subprocess

pytestmark = pytest.mark.slow

INJECT = Path(__file__).with_name("inject.py")
TEMP = re.compile(r"^\.(model|best)\.safetensors\.[0-9a-f]{12}\.tmp$")
EVAL_EVERY, MAX_ITERS = 50, 300
ARGS = [
    "transformer.model.n_layer=1",
    "transformer.model.n_head=2",
    "transformer.model.n_embd=32",
    "transformer.model.dropout=0.1",  # dropout draws from the model generator: its state must survive too
    f"transformer.train.max_iters={MAX_ITERS}",
    f"transformer.train.eval.interval={EVAL_EVERY}",
    "transformer.train.eval.iters=20",
    "transformer.train.checkpoint.interval=25",
    "transformer.train.grad_stats_interval=50",
    "transformer.sample.num_samples=5",
    "transformer.sample.sample_tokens=30",
]
# (how, argument): a timer in seconds after launch, or an inject.py mode and which occurrence to hit
PLAN = [  # the injected kills come first, while plenty of training is left, so they land on any machine speed
    ("timer", (0.1, 0.5)),  # start-up: no checkpoint yet, resume=true must simply start over
    ("kill-checkpoint-write", (2, 4)),
    ("kill-checkpoint-rename", (1, 3)),
    ("kill-eval", (2, 3)),
    ("kill-step", (20, 60)),
    ("timer", (0.5, 1.2)),  # timers land where they land (a step, an eval, ...), or miss on a fast machine
    ("timer", (0.8, 1.0)),  # less is left to train after each resume: the window shrinks
    ("timer", (0.8, 0.95)),
    ("kill-scoring", (1, 1)),  # after the last step: the resumed run must not train (or log) again
]


AVERAGES = {
    "no-average": [],
    "ema-from-100": [
        "transformer.train.average.name=ema",
        "transformer.train.average.decay=0.95",
        "transformer.train.average.start=100",
    ],
}


def _launch(sb, run_dir: Path, mode: str | None, nth: int | None, resume: bool, args):
    argv = sb.stage_argv("transformer", [*args, f"resume={str(resume).lower()}"], str(run_dir))
    if mode:
        argv = [str(INJECT), mode, str(nth), *argv]
    env = {**{k: v for k, v in os.environ.items() if k not in ("DVC_STAGE", "LMLADDER_DEBUG")}, **THREADS}
    return subprocess.Popen(
        [sys.executable, *argv], cwd=sb.root, env={**env, "PYTHONUNBUFFERED": "1"}, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _ckpt_step(path: Path):
    return load_checkpoint(path)[1]["step"] if path.exists() else None


def _where(run_dir: Path, out: str, temps: list[str]) -> str:
    """Where a timer's kill landed, from what the process left behind."""
    if temps:
        return f"during a checkpoint write (left {temps[0]})"
    if "parameters" not in out:
        return "during start-up (imports, config, data), before training"
    rows = pd.read_csv(run_dir / "train_log.tsv", sep="\t") if (run_dir / "train_log.tsv").exists() else None
    evals = pd.read_csv(run_dir / "eval_log.tsv", sep="\t") if (run_dir / "eval_log.tsv").exists() else None
    nxt = int(rows["step"].max()) + 1 if rows is not None and len(rows) else 0
    if nxt >= MAX_ITERS:
        return "after the last step (final evaluation, scoring or sampling)"
    if nxt % EVAL_EVERY == 0 and (evals is None or nxt not in set(evals["step"])):
        return f"during the evaluation at step {nxt}"
    return f"during training step {nxt}"


def _array_hashes(path: Path) -> tuple[str, str, str]:
    arrays, _ = load_checkpoint(path)
    h = {p: hashlib.sha256() for p in ("model.", "optim.", "trained.")}  # trained.: the weights an average is of
    for name, a in arrays.items():
        for p in h:
            if name.startswith(p):
                h[p].update(name.encode() + a.tobytes())
    return h["model."].hexdigest(), h["optim."].hexdigest(), h["trained."].hexdigest()


@pytest.mark.parametrize("average", AVERAGES)
def test_kill_minus_9_and_resume_is_bitwise_identical(average, tmp_path):
    sb = build_sandbox(tmp_path / "sb")
    straight, killed, args = tmp_path / "straight", tmp_path / "killed", [*ARGS, *AVERAGES[average]]
    r = run_subprocess(sb, "transformer", [*args, "resume=false"], str(straight))
    assert r.rc == 0, r.stderr

    rng = random.Random(20240611)
    landed = []
    for how, (lo, hi) in PLAN:
        before = _ckpt_step(killed / "model.safetensors")
        if how == "timer":
            p = _launch(sb, killed, None, None, True, args)
            time.sleep(rng.uniform(lo, hi))
            p.send_signal(signal.SIGKILL)
        else:
            p = _launch(sb, killed, how, rng.randint(lo, hi), True, args)
        out, err = p.communicate(timeout=120)
        if p.returncode == 0:  # the timer was late: the run finished; nothing to record
            landed.append((how, "no kill: the run finished first", before, before))
            continue
        assert p.returncode == -signal.SIGKILL, f"{how}: rc {p.returncode}\n{err}"
        temps = sorted(f.name for f in killed.glob(".*.tmp") if TEMP.match(f.name))
        where = _where(killed, out, temps)
        if injected := re.search(r"\[inject\] SIGKILL (.*)", out):
            where = f"{injected.group(1).replace(str(killed), '<run>')}; logs: {where}"
        landed.append((how, where, before, _ckpt_step(killed / "model.safetensors")))
        for ck in ("model.safetensors", "best.safetensors"):  # whatever is on disk is whole: checksums verify
            if (killed / ck).exists():
                load_checkpoint(killed / ck)
    final = _launch(sb, killed, None, None, True, args)
    out, err = final.communicate(timeout=120)
    assert final.returncode == 0, err

    kills = [x for x in landed if not x[1].startswith("no kill")]
    print("\nkill -9 and resume (how | where it landed | checkpoint step at launch -> after the kill):")
    for how, where, at_launch, after in landed:
        print(f"  {how:22s} | {where} | {at_launch} -> {after}")
    assert len(kills) >= 5, landed
    assert any("writing" in w or "checkpoint write" in w for _, w, _, _ in kills)
    assert any("evaluation" in w for _, w, _, _ in kills)
    assert any("training step" in w for _, w, _, _ in kills)
    assert any(after is None for *_, after in kills), "no kill landed before the first checkpoint"
    assert not [f.name for f in killed.iterdir() if TEMP.match(f.name)], "a temporary was left behind"

    # every file but timing.json (wall clock) is the same bytes: the logs and metrics hold no timing
    for name in ("model.safetensors", "best.safetensors", "samples.txt", "eval_log.tsv", "grad_stats.tsv",
                 "train_log.tsv", "metrics.json"):  # fmt: skip
        assert (killed / name).read_bytes() == (straight / name).read_bytes(), f"{name} differs"
    a, b = _array_hashes(killed / "model.safetensors"), _array_hashes(straight / "model.safetensors")
    print(f"  weights sha256 {a[0][:16]}…  optimizer sha256 {a[1][:16]}…  (uninterrupted: {b[0][:16]}… {b[1][:16]}…)")
    assert a == b
    assert (a[2] != hashlib.sha256().hexdigest()) == bool(AVERAGES[average]), "trained. weights iff an average"
    la = pd.read_csv(killed / "train_log.tsv", sep="\t")
    assert la["step"].tolist() == list(range(MAX_ITERS))
