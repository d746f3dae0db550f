"""The edges of the command line that a table of bad inputs cannot reach: Ctrl-C and a closed pipe (real
subprocesses and signals), argv bytes that are not UTF-8, non-finite scores, output folders that cannot be written.
Each ends in one line (or, for the pipe, silence) and never a traceback."""

from __future__ import annotations

import errno
import json
import os
import select
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from lmladder import cli
from lmladder.app import startup
from lmladder.checkpoints import save_training_checkpoint
from lmladder.data import BPETokenizer, ByteTokenizer, CharTokenizer, WordTokenizer
from lmladder.io import atomic
from lmladder.models import build_model
from lmladder.training import make_rngs

from ..shared_data import shared_file
from .harness import ROOT, THREADS


def _checkpoint(path, tokenizer):
    rngs = make_rngs(0)
    model = build_model("mlp", vocab_size=tokenizer.vocab_size, rng=rngs["model"], context=3, n_embd=4, n_hidden=8)
    save_training_checkpoint(path, model, tokenizer, rngs=rngs)
    return str(path)


@pytest.fixture(scope="module")
def stream_ckpt(tmp_path_factory):
    """An untrained character model of a stream corpus: its samples never stop early, so there is always more."""
    return _checkpoint(tmp_path_factory.mktemp("edges") / "m.safetensors", CharTokenizer.build("abc de\n"))


HANG = 600  # seconds: a guard against a hang only, far above any run's time on a busy machine


def _default_sigint() -> None:
    """A background job of a non-interactive shell (`pytest ... &`) inherits SIGINT ignored, and Python then
    installs no KeyboardInterrupt handler: the child gets the default, as a command started from a terminal."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _lmladder(*args, **kw) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != "LMLADDER_DEBUG"} | THREADS
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")])
    argv = [sys.executable, "-m", "lmladder", *args]
    pipes = dict(stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return subprocess.Popen(argv, env=env, preexec_fn=_default_sigint, **pipes, **kw)


def test_ctrl_c_keeps_the_finished_samples_and_says_how_many(stream_ckpt):
    p = _lmladder("sample", stream_ckpt, "--num-samples", "100000", "--max-new-tokens", "300")
    first = b""
    while not first.endswith(b"-" * 40 + b"\n"):  # the first sample, with its separator line, is out
        line = p.stdout.readline()
        assert line, p.stderr.read().decode()
        first += line
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=HANG)
    lines = err.decode().strip().splitlines()
    assert p.returncode == 130, err.decode()
    assert len(lines) == 1 and "Traceback" not in err.decode(), err.decode()
    done = int(lines[0].removeprefix("lmladder sample: interrupted after ").split()[0])
    assert lines[0] == f"lmladder sample: interrupted after {done} of 100000 samples"
    assert (first + out).count(b"-" * 40 + b"\n") == done >= 1  # each finished sample was printed in full


def test_a_closed_pipe_ends_quietly(stream_ckpt):
    p = _lmladder("sample", stream_ckpt, "--num-samples", "100000", "--max-new-tokens", "50")
    head = subprocess.Popen(["head", "-1"], stdin=p.stdout, stdout=subprocess.PIPE)
    p.stdout.close()  # head alone reads the pipe: when it exits, the next write fails with EPIPE
    first, _ = head.communicate(timeout=HANG)
    err = p.stderr.read().decode()
    assert p.wait(timeout=HANG) in (0, 141), err
    assert err == "" and first.strip()


def test_a_dash_reads_the_prompt_and_the_text_from_a_pipe(stream_ckpt, tmp_path):
    """`--prompt-file -` and `--text -` read standard input (a pipe here) to its end, as a file with those bytes."""
    args = ("--num-samples", "2", "--max-new-tokens", "8", "--seed", "3")

    def run(*argv, stdin=b""):
        p = _lmladder(*argv, stdin=subprocess.PIPE)
        out, err = p.communicate(stdin, timeout=HANG)
        assert p.returncode == 0 and err == b"", err.decode()
        return out

    assert run("sample", stream_ckpt, "--prompt-file", "-", *args, stdin=b"ab d") == run(
        "sample", stream_ckpt, "--prompt", "ab d", *args
    )
    (tmp_path / "t.txt").write_bytes(b"abc de\nab cd\n")
    piped = json.loads(run("evaluate", stream_ckpt, "--text", "-", stdin=b"abc de\nab cd\n"))
    read = json.loads(run("evaluate", stream_ckpt, "--text", str(tmp_path / "t.txt")))
    assert piped.pop("text") == "-" and read.pop("text") == str(tmp_path / "t.txt") and piped == read


def test_a_non_utf8_prompt_is_taken_as_bytes_by_a_byte_model(tmp_path):
    ckpt = _checkpoint(tmp_path / "b.safetensors", ByteTokenizer())
    p = _lmladder("sample", ckpt, "--prompt", b"ab\xff", "--num-samples", "2", "--max-new-tokens", "3")
    out, err = p.communicate(timeout=HANG)
    assert p.returncode == 0 and "Traceback" not in err.decode(), err.decode()
    assert out.decode().startswith("ab\ufffd")  # the raw byte was encoded; shown as U+FFFD, as decode shows it


def test_a_non_utf8_prompt_is_refused_by_a_char_model(stream_ckpt, capsys):
    assert cli.main(["sample", stream_ckpt, "--prompt", "a" + os.fsdecode(b"\xfe")]) == 2
    assert capsys.readouterr().err.strip() == (
        "lmladder sample: error: --prompt is not valid UTF-8 (byte 0xfe at offset 1); pass UTF-8 text (a UTF-8 "
        "locale), or use a checkpoint trained with tokenizer=byte, which takes any bytes"
    )


def test_evaluate_never_prints_nan(stream_ckpt, tmp_path, monkeypatch, capsys):
    import lmladder.inference.scoring as scoring

    text = tmp_path / "t.txt"
    text.write_text("abc de\nabc\n")
    real = scoring.score_tokens
    monkeypatch.setattr(scoring, "score_tokens", lambda *a, **k: {**real(*a, **k), "ppl": float("inf")})
    assert cli.main(["evaluate", stream_ckpt, "--text", str(text)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1
    assert err.startswith(f"lmladder evaluate: error: --text {text} scores ppl=inf, not a finite number")


def test_report_into_a_read_only_folder_names_it(tmp_path, monkeypatch, capsys):
    run = tmp_path / "outputs" / "mlp" / "seed0"
    run.mkdir(parents=True)
    (run / "metrics.json").write_text('{"val": {"nll": 2.0, "ppl": 7.4, "bpc": 2.9}}')
    ro = tmp_path / "ro"
    ro.mkdir()
    real_open, real_mkdir = os.open, os.mkdir

    def read_only(path, flags, *a, **k):  # what a read-only mount says; chmod cannot stop root
        if str(path).startswith(str(ro)) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
        return real_open(path, flags, *a, **k)

    def no_folders(path, *a, **k):  # the report is built in a folder beside its own, on the same mount
        if str(path).startswith(str(ro)):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
        return real_mkdir(path, *a, **k)

    monkeypatch.setattr(atomic.os, "open", read_only)
    monkeypatch.setattr(atomic.os, "mkdir", no_folders)
    assert cli.main(["report", str(tmp_path / "outputs"), "--out", str(ro / "report")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith(f"lmladder report: error: cannot write {ro}/") and "read-only file system" in err
    assert list(ro.iterdir()) == []


def test_a_hydra_run_dir_that_cannot_be_written_is_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(startup.os, "access", lambda *a, **k: False)  # a read-only folder, even for root
    with pytest.raises(SystemExit) as e:
        startup.check_run_dir("train", ["rung=mlp", f"hydra.run.dir={tmp_path}"])
    assert e.value.code == 2
    assert capsys.readouterr().err == (
        f"lmladder mlp: error: hydra.run.dir={tmp_path}: {tmp_path} is read-only (not writable by this user, or on a "
        "read-only file system); point hydra.run.dir at a new or existing folder you can write to\n"
    )


def test_every_sample_is_the_same_for_a_seed(stream_ckpt, capsys):
    args = ["sample", stream_ckpt, "--num-samples", "3", "--max-new-tokens", "20", "--seed", "7"]
    assert cli.main(args) == 0
    first = capsys.readouterr().out
    assert cli.main(args) == 0
    assert capsys.readouterr().out == first and first.count("-" * 40) == 3
    assert np.unique(first.split("-" * 40)[:3]).size > 1  # one Generator across samples: they differ


TEXT = "naïve café — ÆØÅ über 日本語 text, it's a test.\nA second line: ñandú!\n" * 3


@pytest.mark.parametrize(
    "tokenizer",
    [
        lambda: CharTokenizer.build(TEXT),
        lambda: ByteTokenizer(),
        lambda: BPETokenizer.train(TEXT, 300),
        lambda: WordTokenizer.build(TEXT),
    ],
    ids=["char", "byte", "bpe", "word"],
)
def test_streamed_text_equals_decoding_it_at_once(tokenizer, tmp_path, capsys):
    """Pieces are printed as drawn; a character split over byte tokens is held back until it is whole. BPE's
    <|endoftext|> ends a sample unprinted."""
    from lmladder.checkpoints import load_training_checkpoint
    from lmladder.cli.sample import _continuation
    from lmladder.inference.sampling import generate, stop_token

    tok = tokenizer()
    ckpt = _checkpoint(tmp_path / "m.safetensors", tok)
    assert cli.main(["sample", ckpt, "--prompt", "caf", "--num-samples", "2", "--max-new-tokens", "60"]) == 0
    out = capsys.readouterr().out
    model, ids = load_training_checkpoint(ckpt).model, tok.encode("caf")
    rng = np.random.default_rng(0)  # the CLI draws its samples one after another from one Generator
    eot = stop_token(tok)
    rows = [generate(model, ids[None], 60, rng=rng, stop_id=eot)[0] for _ in range(2)]
    want = "".join("caf" + _continuation(tok, ids, r[r != eot]) + "\n" + "-" * 40 + "\n" for r in rows)
    assert out == want


def test_a_long_sample_prints_as_it_goes(stream_ckpt):
    """A billion tokens: the first ones are on stdout at once (before, nothing until the end, and an 8 GB buffer)."""
    p = _lmladder("sample", stream_ckpt, "--max-new-tokens", "1000000000")
    first, deadline = b"", time.monotonic() + HANG
    try:
        while len(first) < 200 and time.monotonic() < deadline:
            if select.select([p.stdout], [], [], 1)[0]:
                chunk = os.read(p.stdout.fileno(), 4096)
                assert chunk, p.stderr.read().decode()
                first += chunk
        assert len(first) >= 200
        time.sleep(1)  # and it keeps going in bounded memory (the old buffer for a billion ids was 8 GB)
        status = open(f"/proc/{p.pid}/status").read()
        peak_kb = int(next(ln.split()[1] for ln in status.splitlines() if ln.startswith("VmHWM:")))
        assert peak_kb < 512 * 1024, f"peak resident memory {peak_kb} kB"
    finally:
        p.kill()
        p.communicate(timeout=HANG)


def test_an_unsmoothed_n_gram_says_its_val_nll_is_infinite_and_how_to_smooth(tmp_path):
    """add-k with k=0 reported an NLL of 2.2e26 (the 1e30 sentinel averaged); now the train stage says it is
    infinite, how many val tokens the model rules out, and what to do (issue 32 class 8)."""
    (tmp_path / "names.txt").write_text("\n".join(shared_file("names.txt").read_text().splitlines()[:2000]) + "\n")
    env = {k: v for k, v in os.environ.items() if k not in ("LMLADDER_DEBUG", "DVC_STAGE")} | THREADS
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")])
    argv = [sys.executable, str(ROOT / "stages" / "train.py"), "rung=bigram", "bigram.model.order=3",
            "bigram.model.k=0", "data.source=file", f"data.path={tmp_path}/names.txt", f"paths.prepared={tmp_path}/p",
            f"paths.outputs={tmp_path}/o", f"data.raw_dir={tmp_path}/raw", f"hydra.run.dir={tmp_path}/run"]  # fmt: skip
    p = subprocess.run(argv, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=HANG)
    assert p.returncode == 0 and "Traceback" not in p.stderr, p.stderr
    n = json.loads((tmp_path / "run" / "metrics.json").read_text())["val"]["impossible_tokens"]
    said = f"the model gives {n:,} val tokens probability 0 (n-grams never seen in train)"
    assert n > 0 and f"[bigram] val NLL is infinite: {said}; smooth it (a k > 0, or smoothing=kneser_ney)" in p.stdout
