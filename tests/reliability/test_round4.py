"""Issue 47 (round four), what the case tables cannot hold: a fault planted at a precise moment of a real command
(a corpus edited between prepare's passes, ...), each on real files."""

from __future__ import annotations

import os
import re

import numpy as np
import pytest

from lmladder.data import streaming, streaming_lines
from lmladder.data.errors import DataError
from lmladder.data.streaming import prepare_file
from lmladder.data.streaming_lines import prepare_lines_file
from lmladder.nn.muon import MuonSettings
from lmladder.training import CheckpointSettings, EvalSettings

from .harness import shared_file

CHANGED = r"changed while it was being prepared \(.*\); prepare again once nothing writes to it"


def _corpus(tmp_path, n=4000):
    file = tmp_path / "corpus.txt"
    file.write_text("\n".join(shared_file("names.txt").read_text().splitlines()[:n]) + "\n")
    return file


def _edit_after(monkeypatch, module, name, file, edit):
    """Run `edit(file)` once module.name (a pass of prepare) has run: the corpus changes between passes."""
    real = getattr(module, name)

    def wrapped(*a, **k):
        out = real(*a, **k)
        edit(file)
        return out

    monkeypatch.setattr(module, name, wrapped)


def _append(file):
    with open(file, "a") as f:
        f.write("zoe\n")


def _same_size_same_mtime(file):
    """A tail swapped for other letters of the same length, the modification time put back: only a hash tells."""
    st, data = os.stat(file), file.read_bytes()
    file.write_bytes(data[:-4] + b"xyz\n")
    os.utime(file, ns=(st.st_atime_ns, st.st_mtime_ns))


@pytest.mark.parametrize("tokenizer", ["char", "bpe"])
def test_a_stream_corpus_edited_after_its_hash_is_refused(tmp_path, monkeypatch, tokenizer):
    file = _corpus(tmp_path)
    _edit_after(monkeypatch, streaming, "scan", file, _append)
    opts = {"vocab_size": 270} if tokenizer == "bpe" else {}
    with pytest.raises(DataError, match=CHANGED):
        prepare_file(file, tokenizer=tokenizer, fractions=(0.9, 0.1), out_dir=tmp_path / "p", source="corpus", **opts)
    assert not (tmp_path / "p").exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".p.")]


def test_a_stream_corpus_edited_during_encoding_is_refused_even_with_its_mtime_put_back(tmp_path, monkeypatch):
    file = _corpus(tmp_path)
    _edit_after(monkeypatch, streaming, "build_tokenizer", file, _same_size_same_mtime)
    with pytest.raises(DataError, match=r"corpus changed while it was being prepared \(its sha256 was \w{12} when"):
        prepare_file(file, tokenizer="char", fractions=(0.9, 0.1), out_dir=tmp_path / "p", source="corpus")
    assert not (tmp_path / "p").exists()


def test_a_lines_corpus_edited_between_its_passes_is_refused(tmp_path, monkeypatch):
    file = _corpus(tmp_path)
    _edit_after(monkeypatch, streaming_lines, "line_lengths", file, _append)  # lengths counted, then a line more
    with pytest.raises(DataError, match=CHANGED):
        prepare_lines_file(file, tokenizer="char", fractions=(0.8, 0.1, 0.1), out_dir=tmp_path / "p", source="c")
    assert not (tmp_path / "p").exists()


def test_an_unchanged_corpus_prepares_as_before(tmp_path):
    file = _corpus(tmp_path)
    stats = prepare_lines_file(file, tokenizer="char", fractions=(0.8, 0.1, 0.1), out_dir=tmp_path / "p", source="c")
    assert len(stats["sha256"]) == 64 and (tmp_path / "p" / "train.npy").exists()


def test_a_corpus_that_differs_from_the_digest_its_cache_folder_is_named_by_is_refused(tmp_path):
    from lmladder.data import DataConfig
    from lmladder.data.store import prepare

    file = _corpus(tmp_path, n=300)
    named = "0" * 64  # what ensure_prepared hashed before the file was edited
    with pytest.raises(DataError, match=r"changed while it was being prepared \(its sha256 was 000000000000 when"):
        prepare(DataConfig(source="file", path=str(file)), tmp_path / "p", corpus_sha256=named)
    with pytest.raises(DataError, match=r"changed while it was being prepared \(its sha256 was 000000000000 when"):
        prepare_file(file, tokenizer="char", fractions=(0.9, 0.1), out_dir=tmp_path / "p", source="c",
                     meta={"corpus_sha256": named})  # fmt: skip
    assert not (tmp_path / "p").exists()


# ---------------------------------------------------------------- 3. paired statistics: what they can claim
def _units(nll, tokens, chars, digest="d" * 64):
    from lmladder.inference.units import SplitUnits

    n = np.asarray(nll, dtype=np.float64)
    t, c = np.asarray(tokens, dtype=np.int64), np.asarray(chars, dtype=np.int64)
    return SplitUnits(nll=n, tokens=t, chars=c, bytes=c.copy(), unit="block1000", digest=digest)


def _compare(ua, ub, failed_b=0):
    import pandas as pd

    from lmladder.reports.paired import compare_units

    a = pd.DataFrame([{"rung": "mlp", "n": len(ua), "val_nll": 2.0}])
    b = pd.DataFrame([{"rung": "mlp", "n": len(ub), "val_nll": 2.0, "failed": failed_b}])
    return compare_units(a, ["rung"], b, ["rung"], {"mlp": ua}, {"mlp": ub}).iloc[0]


def test_two_tokenizers_of_one_text_are_judged_by_bits_per_character():
    rng = np.random.default_rng(0)
    chars = np.full(50, 1000)
    # A: a character per token, 1.5 nats each; B: 4 characters a token, 4.0 nats each (1.0 nats a character)
    a = _units(1.5 * 1000 + rng.normal(0, 5, 50), chars, chars)
    b = _units(4.0 * 250 + rng.normal(0, 5, 50), np.full(50, 250), chars)
    row = _compare([{"val": a}], [{"val": b}])
    assert row["val_nll_delta"] > 0 and row["val_bpc_delta"] < 0  # per token B looks worse, per character better
    assert row["val_judged_by"] == "bpc" and row["val_verdict"] == "better" and row["val_units"] == 50
    same = _compare([{"val": a}], [{"val": a}])
    assert same["val_judged_by"] == "nll"


def test_one_unit_gives_no_interval_no_p_and_no_verdict():
    from lmladder.reports.paired import paired_markdown

    a, b = _units([2000.0], [1000], [1000]), _units([1500.0], [1000], [1000])
    row = _compare([{"val": a}], [{"val": b}])
    assert row["val_verdict"] == "too few units (1 < 20)" and row["val_nll_p"] != row["val_nll_p"]
    assert row["val_nll_delta"] == pytest.approx(-0.5) and row["val_units"] == 1
    md = paired_markdown(row.to_frame().T)
    assert "| -0.5000 " in md and "too few units (1 < 20)" in md and "better" not in md


def test_a_side_with_a_failed_job_is_named():
    from lmladder.reports.paired import paired_markdown

    rng = np.random.default_rng(1)
    a = [{"val": _units(rng.uniform(900, 1100, 30), np.full(30, 500), np.full(30, 500))} for _ in range(2)]
    row = _compare(a, a[:1], failed_b=1)
    assert row["seeds_B"] == 1 and row["failed_B"] == 1
    assert "- B's mlp: 1 failed job(s) left out (see B's report); paired over its 1 finished seed(s)" in (
        paired_markdown(row.to_frame().T)
    )


@pytest.mark.parametrize(
    "paired, spread, by, says",
    [
        ("better", "B better", "nll", r"^better$"),
        ("better", "within noise", "nll", r"^better on these units, but within the seed spread"),
        ("not significant", "B worse", "nll", r"seeds' means differ by more than their spread \(B worse\)"),
        ("better", "B worse", "nll", r"better on these units, B worse by the seeds' means: too few seeds or units"),
        ("better", "B worse", "bpc", r"by bits/char: the table above compares NLL per token"),
        ("better", "n=1: no seed spread", "nll", r"^better$"),
    ],
)
def test_the_paired_and_the_seed_spread_verdicts_agree_or_say_why_not(paired, spread, by, says):
    from lmladder.reports.paired import explain

    assert re.search(says, explain(paired, spread, by))


# ---------------------------------------------------------------- 4. unit files read back: bounded, and a way through
def _report_with_huge_units(folder):
    from .round4_files import huge_units

    (folder / "units" / "mlp").mkdir(parents=True)
    (folder / "perplexity.csv").write_text("rung,n,val_nll,val_nll_std\nmlp,1,2.0,0.0\n")
    (folder / "runs.csv").write_text("rung,seed,status,job,val_nll\nmlp,0,ok,mlp/seed0,2.0\n")
    (folder / "units" / "mlp" / "seed0.npz").write_bytes(huge_units())
    return folder


def test_a_report_whose_units_ask_for_terabytes_is_refused_and_no_units_goes_through(tmp_path, capsys):
    from lmladder.cli import main

    rep = str(_report_with_huge_units(tmp_path / "rep"))
    assert main(["compare", rep, rep]) == 2
    assert re.search(
        r"seed0.npz is corrupt \(its val_nll.npy asks for 8,796,093,022,208 bytes", capsys.readouterr().err
    )
    assert main(["compare", rep, rep, "--no-units"]) == 0
    assert "No paired test" in capsys.readouterr().out


def test_units_read_at_a_git_revision_point_to_no_units_not_to_deleting_them(tmp_path):
    import pandas as pd

    from lmladder.inference.units import UnitsError
    from lmladder.reports.paired import read_report_units

    from .round4_files import huge_units

    runs = pd.DataFrame([{"rung": "mlp", "seed": 0, "status": "ok", "job": "mlp/seed0", "val_nll": 2.0}])
    with pytest.raises(UnitsError, match=r"stored at that revision: compare without unit scores with --no-units"):
        read_report_units(runs, tmp_path / "HEAD:outputs/reports", {"mlp/seed0": huge_units()})


# ---------------------------------------------------------------- 5. memory budgets of the newest writers
def test_arpa_export_is_estimated_before_any_work_and_streams_its_rows(tmp_path, monkeypatch):
    from lmladder.data import CharTokenizer
    from lmladder.export.arpa import arpa_words, write_arpa
    from lmladder.models.bigram import NGram, NGramConfig
    from lmladder.resources import MemoryBudgetError

    text = shared_file("tinyshakespeare.txt").read_text()[:20_000]
    tok = CharTokenizer.build(text)
    model = NGram(NGramConfig(5, "kneser_ney", vocab_size=tok.vocab_size, pad_id=0, boundary_id=None))
    model.fit(tok.encode(text))
    monkeypatch.setenv("LMLADDER_MEMORY_LIMIT", "64M")
    with pytest.raises(MemoryBudgetError, match=r"--to arpa of this 5-gram model \([\d,]+ n-grams, about 1200 bytes"):
        write_arpa(model, tmp_path / "m.arpa", arpa_words(tok))
    assert not list(tmp_path.iterdir())
    monkeypatch.setenv("LMLADDER_MEMORY_LIMIT", "1G")
    assert write_arpa(model, tmp_path / "m.arpa", arpa_words(tok))[5] > 0


def test_a_lines_corpus_of_one_long_line_is_refused_by_its_longest_line(tmp_path, monkeypatch):
    from lmladder.resources import MemoryBudgetError

    file = tmp_path / "one.txt"
    file.write_bytes(b"abcd" * (1 << 20) + b"\n")  # one 4 MiB document
    monkeypatch.setenv("LMLADDER_MEMORY_LIMIT", "32M")
    with pytest.raises(MemoryBudgetError, match=r"its longest line is 4,194,304 bytes, about 16 bytes .* 32.0 MiB"):
        prepare_lines_file(file, tokenizer="char", fractions=(0.8, 0.1, 0.1), out_dir=tmp_path / "p", source="one")
    assert not (tmp_path / "p").exists()


# ---------------------------------------------------------------- 6. a killed sweep job fails alone
KILLER_APP = """
import os, signal
import hydra
from lmladder.app.policy import stage
from lmladder.io import atomic_write_json

@hydra.main(config_path={conf!r}, config_name="config", version_base=None)
def main(cfg):
    with stage("killer", cfg) as st:
        if st.run.seed == 1:
            os.kill(os.getpid(), signal.SIGKILL)  # the OOM killer, or kill -9, in the middle of a job
        metrics = {{"val": {{"nll": 2.0}}, "test": {{"nll": 2.1}}, "seed": 0, "pid": os.getpid()}}
        atomic_write_json(st.job_dir / "metrics.json", metrics)

main()
"""


def test_a_killed_joblib_worker_fails_its_job_alone_and_the_sweep_goes_on(tmp_path):
    import json
    import subprocess
    import sys

    from .harness import ROOT

    app = tmp_path / "killer_app.py"
    app.write_text(KILLER_APP.format(conf=str(ROOT / "conf")))
    argv = [sys.executable, str(app), "-m", "hydra/launcher=joblib_2", "seed=0,1,2,3", "hydra.sweep.dir=sweep"]
    r = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    status = [json.loads((tmp_path / "sweep" / str(i) / "status.json").read_text()) for i in range(4)]
    assert [s["status"] for s in status] == ["ok", "failed", "ok", "ok"]
    assert re.search(
        r"job 1 \(seed=1\) was killed: its worker process died \(exit code SIGKILL\(-9\)", status[1]["error"]
    )
    assert "1 of 4 jobs failed (3 finished; the sweep exits 0)" in r.stderr
    # two slots: the three jobs that finished ran in at most two workers (a slot keeps its worker for its next
    # job, and starts a new one after its worker was killed); a worker per job would be three
    pids = {json.loads((tmp_path / "sweep" / str(i) / "metrics.json").read_text())["pid"] for i in (0, 2, 3)}
    assert len(pids) <= 2, pids


# ---------------------------------------------------------------- 7. DVCLive's writes under the error policy
def test_dvclives_writes_fail_in_one_line_naming_the_file(tmp_path):
    from lmladder.io import WriteError
    from lmladder.training.live import LiveLog

    (tmp_path / "dvclive").write_text("not a folder")
    with pytest.raises(WriteError, match=r"cannot write .*dvclive: File exists; a file is in the way of a directory"):
        LiveLog(tmp_path / "dvclive", {"seed": 0}).open()
    live = LiveLog(tmp_path / "live", {"seed": 0})
    live.open()
    live.log(0, {"train/loss": 3.0})
    live.flush()  # rows reach their files at each sync and before each checkpoint
    tsv = tmp_path / "live" / "plots" / "metrics" / "train" / "loss.tsv"
    tsv.unlink()
    tsv.mkdir()  # blocked mid-run (as an immutable file blocks it, for root too)
    live.log(1, {"train/loss": 2.9})
    with pytest.raises(WriteError, match=r"cannot write .*train/loss.tsv: Is a directory"):
        live.flush()


@pytest.mark.slow  # two short real trainings
def test_a_deleted_live_log_is_rebuilt_from_the_runs_own_logs_on_resume(tmp_path):
    import shutil

    from .test_live_log import CHECKPOINT, INJECT, KILL_AT, _train

    killed = _train(tmp_path, "run", inject=(str(INJECT), "kill-step", str(KILL_AT)))
    assert killed.returncode == -9, killed.stderr
    shutil.rmtree(tmp_path / "run" / "dvclive")
    resumed = _train(tmp_path, "run", "resume=true")
    assert resumed.returncode == 0, resumed.stderr
    assert "live log: train/loss, train/lr, eval/train_loss, eval/val_loss rebuilt from train_log.tsv" in resumed.stdout
    rows = (tmp_path / "run" / "dvclive" / "plots" / "metrics" / "train" / "loss.tsv").read_text().splitlines()
    assert rows[0] == "step\tloss" and [int(r.split("\t")[0]) for r in rows[1:]] == list(range(60))
    assert rows[1].split("\t")[1] == (tmp_path / "run" / "train_log.tsv").read_text().splitlines()[1].split("\t")[2]
    assert f"at step {CHECKPOINT}" in resumed.stdout


# ---------------------------------------------------------------- 8. knobs and variables
def test_a_muon_divergence_names_muons_rate_not_adamws(names_prepared, tmp_path):
    from dataclasses import replace

    from lmladder.models import rung_class
    from lmladder.training import Run, TrainingError, run_rung
    from lmladder.training.settings import OptimSettings, SampleSettings, TrainSettings

    cls = rung_class("mlp")
    train = TrainSettings(max_iters=20, batch_size=16, eval=EvalSettings(interval=20, iters=1),
                          checkpoint=CheckpointSettings(interval=20), health_interval=0, progress=False,
                          max_nonfinite=0, dvclive=False)  # fmt: skip
    optim = OptimSettings(name="muon", muon=MuonSettings(lr=1e38), lr=1e-3, grad_clip=None)
    run = Run(cls, replace(cls.Config(), n_embd=8, n_hidden=32), names_prepared, seed=0, out_dir=tmp_path,
              sample=SampleSettings(num_samples=1, sample_tokens=4), optim=optim, train=train, meta={},
              log=lambda *a: None)  # fmt: skip
    with pytest.raises(TrainingError, match=r"lower muon.lr=1e\+38 \(Muon's, the hidden matrices\) or lr=0.001"):
        run_rung(run)


@pytest.mark.parametrize("env, said", [({"NUMBA_NUM_THREADS": "0"}, "NUMBA_NUM_THREADS='0'"),
                                       ({"OMP_NUM_THREADS": "two"}, "OMP_NUM_THREADS='two'")])  # fmt: skip
def test_thread_variables_are_checked_before_numba_reads_them(env, said):
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-m", "lmladder", "sample", "x.safetensors"], capture_output=True, text=True,
                       env={**os.environ, **env}, timeout=300)  # fmt: skip
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr  # one line, no traceback
    assert r.stderr.startswith(f"lmladder sample: error: {said} must be a whole number >= 1 (the threads ")
    assert r.stderr.endswith("; set it to e.g. 2, or unset it\n")


# ---------------------------------------------------------------- weak cases of the same families
def test_a_downloaded_corpus_gets_the_usual_file_mode_not_0600(tmp_path):
    import hashlib

    from lmladder.data import DataConfig
    from lmladder.data.store import prepare

    src = _corpus(tmp_path, n=500)
    sha = hashlib.sha256(src.read_bytes()).hexdigest()
    data = DataConfig(source="url", url=f"file://{src}", sha256=sha, path=None, raw_dir=str(tmp_path / "raw"))
    prepare(data, tmp_path / "p")
    mask = os.umask(0)
    os.umask(mask)
    assert (tmp_path / "raw" / "corpus.txt").stat().st_mode & 0o777 == 0o666 & ~mask
    assert [p.name for p in (tmp_path / "raw").iterdir()] == ["corpus.txt"]  # no .part left


def test_an_export_removes_what_a_killed_export_of_that_path_left(tmp_path):
    from lmladder.export import export

    from ..test_export import _gpt_checkpoint

    ckpt = _gpt_checkpoint(tmp_path / "m.safetensors")
    stale = tmp_path / ".m.gguf.0123456789ab.tmp"  # as atomic_path names its temporary
    stale.write_bytes(b"GGUF half")
    export(ckpt, "gguf", tmp_path / "m.gguf")
    assert not stale.exists() and (tmp_path / "m.gguf").read_bytes()[:4] == b"GGUF"
