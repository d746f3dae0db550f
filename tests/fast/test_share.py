"""Sharing the machine (fast/share.py): the thread count follows the cores other processes leave free, and a run
beside a busy neighbour gives the bits of the same run on an idle machine."""

import os
import re
import subprocess
import sys
import textwrap

import pytest

from lmladder.data import load_text, prepare_corpus
from lmladder.fast import share
from lmladder.fast.share import WINDOW, Share

from ..shared_data import shared_file


class Machine:
    """A fake machine: each window, the other processes use `others` cores and we use `ours`."""

    def __init__(self):
        self.busy = self.own = 0.0
        self.counts = []

    def read(self):
        return self.busy, self.own

    def run(self, s: Share, others: float, ours: float = 1.0, windows: int = 1) -> int:
        for _ in range(windows):
            self.busy += (others + ours) * WINDOW
            self.own += ours * WINDOW
            self.now = getattr(self, "now", 0.0) + WINDOW
            s.threads(self.now)
        return s.running


def fresh(width=2, cores=2):
    m = Machine()
    s = Share(width, cores=cores, read=m.read, apply=m.counts.append)
    s.threads(0.0)  # the first window starts
    return m, s


def test_an_idle_machine_keeps_every_thread():
    m, s = fresh()
    assert m.run(s, others=0.05, ours=2.0, windows=8) == 2
    assert s.changes == [] and m.counts == [2]


def test_a_busy_neighbour_takes_its_core_at_once_and_gives_it_back_after_two_windows():
    m, s = fresh()
    assert m.run(s, others=1.0) == 1
    assert s.changes == ["sharing the machine: 1 of 2 threads (other processes keep 1.0 of 2 cores busy)"]
    assert m.run(s, others=1.0, windows=3) == 1  # still busy: no change, no new line
    assert m.run(s, others=0.0) == 1  # one quiet window is not enough
    assert m.run(s, others=0.0) == 2
    assert s.changes[-1] == "sharing the machine: 2 of 2 threads (the cores are free again)"
    assert m.counts == [2, 1, 2]


def test_a_neighbour_pausing_for_one_window_does_not_make_the_count_flap():
    m, s = fresh()
    m.run(s, others=1.0)
    for _ in range(5):
        m.run(s, others=0.0)
        m.run(s, others=1.0)
    assert s.running == 1 and m.counts == [2, 1]


@pytest.mark.parametrize(
    ("others", "threads"), [(0.0, 4), (0.4, 4), (0.6, 3), (1.0, 3), (1.7, 2), (2.4, 2), (3.5, 1), (9.0, 1)]
)
def test_the_count_is_the_free_cores_rounded(others, threads):
    m, s = fresh(width=4, cores=4)
    assert m.run(s, others=others, windows=2) == threads


def test_a_width_of_one_or_a_pinned_count_never_changes():
    m, s = fresh(width=1)
    assert m.run(s, others=1.5, windows=3) == 1 and m.counts == [1]
    m, s = fresh()
    s.pinned = True
    assert m.run(s, others=1.5, windows=3) == 2 and m.counts == [2]


def test_a_machine_without_cpu_times_keeps_its_count():
    """psutil raises where /proc/stat is missing (a chroot): the count stays, and nothing is read again."""
    calls = []

    def blind():
        calls.append(1)
        raise OSError("no /proc/stat")

    s = Share(2, cores=2, read=blind, apply=lambda n: None)
    assert s.threads(0.0) == 2 and s.threads(1.0) == 2 and s.threads(9.0) == 2
    assert len(calls) == 1


def test_no_decision_within_a_window():
    m, s = fresh()
    m.busy += 10.0  # a burst, but read only when the window ends
    assert s.threads(WINDOW / 2) == 2 and m.counts == [2]


def test_pin_sets_the_count_and_news_hands_each_line_over_once():
    share.pin(1)
    try:
        assert share.threads() == 1 and share.news() == []
        share.state().changes.append("x")
        assert share.news() == ["x"] and share.news() == []
    finally:
        share.pin(None)


TRAIN = textwrap.dedent(
    """
    import sys
    from lmladder.data import load_prepared
    from lmladder.models import build_model
    from lmladder.training import CheckpointSettings, EvalSettings, OptimSettings, TrainSettings, make_rngs, train

    data = load_prepared(sys.argv[1])
    rngs = make_rngs(0)
    model = build_model("transformer", data=data, rng=rngs["model"], block_size=64, n_layer=2, n_head=4, n_embd=64)
    settings = TrainSettings(max_iters=int(sys.argv[3]), batch_size=16, seq_len=64,
                             eval=EvalSettings(interval=1000, iters=1), checkpoint=CheckpointSettings(interval=1000),
                             grad_stats_interval=1000, progress=False)
    train(model, data, optim=OptimSettings(lr=1e-3), train=settings, rngs=rngs, out_dir=sys.argv[2])
    """
)
ENV = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "NUMBA_NUM_THREADS")}
SPIN = [sys.executable, "-c", "while True: pass"]
needs_cores = pytest.mark.skipif(share.usable_cores() < 2, reason="one core: nothing to share")


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    out = tmp_path_factory.mktemp("share") / "prepared"
    text = load_text("file", path=shared_file("tinyshakespeare.txt"))[:50_000]
    prepare_corpus(text, kind="stream", tokenizer="char", out_dir=out)
    return out


def start(prepared, out, steps):
    """A training run in a session of its own, as another terminal's would be."""
    cmd = [sys.executable, "-c", TRAIN, str(prepared), str(out), str(steps)]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=ENV, start_new_session=True)


def finish(proc, out):
    log, _ = proc.communicate(timeout=900)
    assert proc.returncode == 0, log
    return log, (out / "model.safetensors").read_bytes()


@needs_cores
def test_a_run_beside_a_busy_neighbour_gives_the_bits_of_an_idle_run_and_says_it_shared(prepared, tmp_path):
    log, idle = finish(start(prepared, tmp_path / "idle", 60), tmp_path / "idle")
    assert "threads: " in log  # the start line (a busy CI machine may also log sharing here)
    neighbours = [subprocess.Popen(SPIN, start_new_session=True) for _ in range(share.usable_cores() - 1)]
    try:
        log, busy = finish(start(prepared, tmp_path / "busy", 60), tmp_path / "busy")
    finally:
        for n in neighbours:
            n.kill()
            n.wait()
    assert busy == idle
    assert "sharing the machine: 1 of " in log


@needs_cores
@pytest.mark.slow
def test_two_runs_started_by_hand_share_the_cores_and_keep_their_bits(prepared, tmp_path):
    _, alone = finish(start(prepared, tmp_path / "alone", 400), tmp_path / "alone")
    runs = [start(prepared, tmp_path / name, 400) for name in ("a", "b")]
    for name, proc in zip(("a", "b"), runs, strict=True):
        log, bits = finish(proc, tmp_path / name)
        assert bits == alone
        assert re.search(rf"sharing the machine: (\d+) of {share.usable_cores()} threads", log), log
