"""End to end with the real tools: DVC (experiments, repro, metrics) and Hydra, in a temporary git repo copy.

Slow (about a minute): `python -m pytest -m slow`.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from lmladder.config import PAGES

ROOT = Path(__file__).resolve().parent.parent
# a small, fast configuration of every rung (the default data: embedded baby names, no network)
TINY = [
    "mlp.train.max_iters=60",
    "mlp.train.eval.interval=30",
    "mlp.train.eval.iters=5",
    "rnn.train.max_iters=60",
    "rnn.train.eval.interval=30",
    "rnn.train.eval.iters=5",
    "transformer.train.max_iters=30",
    "transformer.train.eval.interval=15",
    "transformer.train.eval.iters=5",
    "transformer.model.n_layer=1",
    "transformer.model.n_embd=32",
]

PIPELINE = yaml.safe_load((ROOT / "conf" / "config.yaml").read_text())["pipeline"]  # the rungs dvc repro trains
EVERY_STAGE = {"check", "prepare", *(f"train@{rung}-0" for rung in PIPELINE), "evaluate"}

pytestmark = pytest.mark.slow


def project_env() -> dict:
    """The environment a command in the project copy runs with: this venv's tools first, outside any DVC stage."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    env.pop("DVC_STAGE", None)
    return env


def sh(args, cwd, check=True, timeout=1200):
    """Run a command in the project copy; `timeout` is a hang guard (a tiny pipeline takes a few minutes on a
    busy machine), never a speed check."""
    r = subprocess.run(args, cwd=cwd, env=project_env(), capture_output=True, text=True, timeout=timeout)
    if check and r.returncode:
        raise AssertionError(f"{args} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
    return r


def dvc(*args, cwd, check=True, timeout=1200):
    return sh([sys.executable, "-m", "dvc", *args], cwd, check, timeout)


def exp_run(repo, *overrides, name=None, force=False):
    args = ["exp", "run", *(["-n", name] if name else []), *(["--force"] if force else [])]
    for o in (*TINY, *overrides):
        args += ["-S", o]
    return dvc(*args, cwd=repo)


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    """A copy of the project's files (tracked and new, not ignored) as a fresh git repository."""
    dst = tmp_path_factory.mktemp("e2e") / "lmladder"
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    for f in files:
        if (ROOT / f).is_file() and not f.startswith(("outputs/", "data/")):
            (dst / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / f, dst / f)
    sh(["git", "init", "-q"], dst)
    sh(["git", "-c", "user.email=t@t", "-c", "user.name=t", "add", "-A"], dst)
    sh(["git", "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "init"], dst)
    return dst


def ran(out: str) -> set[str]:
    return {ln.split("'")[1] for ln in out.splitlines() if ln.startswith("Running stage")}


def test_repro_builds_the_table_then_is_a_noop(repo):
    r = exp_run(repo)
    assert ran(r.stdout) == EVERY_STAGE
    table = (repo / "outputs/reports/perplexity.md").read_text()
    for rung in PIPELINE:
        assert f"| {rung}" in table
    metrics = json.loads((repo / "outputs/reports/metrics.json").read_text())
    assert all(1.5 < metrics[r]["val_nll"] < 3.3 for r in PIPELINE)  # < ln 27
    positions = (repo / "outputs/reports/positions.md").read_text()  # loss by position, every rung (issue 50)
    assert all(f"| {rung}" in positions for rung in PIPELINE) and (repo / "outputs/reports/positions.png").is_file()
    assert not any((repo / "outputs/reports" / page).exists() for page in PAGES)  # optional: `pages` is empty
    shown = dvc("metrics", "show", "--json", cwd=repo).stdout
    assert "val_nll" in shown
    r = dvc("repro", cwd=repo)
    assert ran(r.stdout) == set() and "up to date" in r.stdout


def test_pages_run_their_own_stages_only(repo):
    """The optional pages (`pages` in conf/config.yaml) turned on: their stages run, nothing retrains or re-scores
    (check: every change of params.yaml); the diff page is the top rung against the one below it."""
    r = exp_run(repo, f"pages=[{','.join(PAGES)}]")
    assert ran(r.stdout) == {"check", *(f"page@{page}" for page in PAGES)}
    top = json.loads((repo / "outputs/reports/diff/summary.json").read_text())
    assert (top["A"]["rung"], top["B"]["rung"]) == (PIPELINE[-2], PIPELINE[-1])
    assert all((repo / f"outputs/reports/inspect/{rung}/index.html").is_file() for rung in PIPELINE)


def test_changing_smoothing_reruns_only_bigram_and_evaluate(repo):
    r = exp_run(repo, "bigram.model.k=0.5")
    assert ran(r.stdout) == {"check", "train@bigram-0", "evaluate"}  # check: every change of params.yaml
    assert yaml.safe_load((repo / "params.yaml").read_text())["bigram"]["model"]["k"] == 0.5


def test_exp_run_trigram(repo):
    exp_run(repo, "bigram.model.order=3")
    ck = repo / "outputs/bigram/seed0/metrics.json"
    assert 27**2 < json.loads(ck.read_text())["params"] < 27**3  # sparse: the contexts and trigrams seen
    assert "exp" in dvc("exp", "show", "--csv", cwd=repo).stdout.lower()


def test_compare_two_experiments_with_the_paired_test(repo):
    """`lmladder compare A: B:` reads each experiment's units/ from the DVC cache: a paired row per rung, the rungs
    that did not change exactly zero."""
    exp_run(repo, "mlp.model.n_hidden=16", name="units-small")
    # back to the TINY defaults, as the tests below expect; --force: a checkpoint records the whole config, so the
    # stages DVC would skip (their own params unchanged) would keep n_hidden=16 in their metadata
    exp_run(repo, name="units-base", force=True)
    r = sh([sys.executable, "-m", "lmladder", "compare", "units-small:", "units-base:"], repo)
    paired = r.stdout.split("## Paired bootstrap")[1]
    rows = {  # keyed by rung (the setting is rung/tokenizer)
        ln.split("|")[1].strip().split("/")[0]: ln
        for ln in paired.splitlines()
        if ln.startswith("| ") and "---" not in ln
    }
    assert set(PIPELINE) <= set(rows), r.stdout
    assert "+0.0000 [+0.0000, +0.0000]" in rows["bigram"] and rows["bigram"].rstrip("| ").endswith("not significant")
    assert "+0.0000 [+0.0000, +0.0000]" not in rows["mlp"] and rows["mlp"].rstrip("| ").endswith(("better", "worse"))


def test_hydra_run_gives_the_same_metrics_as_dvc(repo):
    exp_run(repo)  # back to the TINY defaults under DVC
    dvc_metrics = json.loads((repo / "outputs/mlp/seed0/metrics.json").read_text())
    r = sh([sys.executable, "stages/train.py", "rung=mlp", *TINY, "hydra.run.dir=outputs/runs/same"], repo)
    hydra_metrics = json.loads((repo / "outputs/runs/same/metrics.json").read_text())
    assert hydra_metrics["val"] == dvc_metrics["val"] and hydra_metrics["test"] == dvc_metrics["test"], r.stdout
    # the plain run never touched the DVC-tracked outputs
    assert dvc("status", cwd=repo).stdout.strip().endswith("up to date.")


def test_repro_of_the_committed_snapshot_gives_the_same_metrics(repo):
    """`dvc repro` reads the committed params.yaml (no recomposition) and retrains to the same numbers."""
    exp_run(repo)
    before = json.loads((repo / "outputs/mlp/seed0/metrics.json").read_text())
    sh(["git", "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qam", "params snapshot"], repo)
    r = dvc("repro", "--force", "--single-item", "train@mlp-0", cwd=repo)
    assert ran(r.stdout) == {"train@mlp-0"}
    after = json.loads((repo / "outputs/mlp/seed0/metrics.json").read_text())
    assert after["val"] == before["val"] and after["test"] == before["test"]


def test_stage_refuses_another_config_under_dvc(repo):
    env_cmd = [sys.executable, "stages/train.py", "rung=mlp", "hydra.run.dir=outputs/runs/x"]
    r = subprocess.run(
        env_cmd, cwd=repo, capture_output=True, text=True, env={**os.environ, "DVC_STAGE": "train@mlp-0"}
    )
    assert r.returncode == 2 and "--config-name params" in r.stderr and "Traceback" not in r.stderr


def test_a_bad_override_deletes_nothing(repo):
    """DVC deletes a stage's outputs before running it: a setting only the training stage refused used to cost the
    last good run (timing.json for good). The check stage refuses it first; a good run afterwards reruns nothing."""
    exp_run(repo)
    runs = {f: f.read_bytes() for f in (repo / "outputs").rglob("*") if f.is_file() and "config-checked" not in f.name}
    prepared = {f: f.read_bytes() for f in (repo / "data" / "prepared").rglob("*") if f.is_file()}
    assert repo / "outputs/rnn/seed0/timing.json" in runs
    for bad, says in (
        ("rnn.model.n_embd=0", "lmladder check: error: rnn.model.n_embd=0 must be a positive integer"),
        ("data.source=file", "lmladder check: error: data.source=file needs a path; set data.path=/path/to/corpus.txt"),
    ):
        r = dvc("exp", "run", *(a for o in (*TINY, bad) for a in ("-S", o)), cwd=repo, check=False)
        assert r.returncode != 0 and says in r.stderr, (bad, r.stdout, r.stderr)
        assert ran(r.stdout) == {"check"}, r.stdout
        assert {f: f.read_bytes() for f in runs} == runs and {f: f.read_bytes() for f in prepared} == prepared
    r = exp_run(repo)  # check runs again (or DVC's run cache restores its output): byte for byte the last one
    assert ran(r.stdout) <= {"check"} and (repo / "outputs/config-checked.txt").is_file(), r.stdout


def changed_stages(repo) -> set[str]:
    """The stages `dvc status` lists (its stage lines are the unindented ones ending in a colon)."""
    out = dvc("status", cwd=repo).stdout.splitlines()
    return {ln[:-1] for ln in out if ln.endswith(":") and not ln[:1].isspace()}


def test_a_code_change_marks_every_stage_that_runs_it(repo):
    """The stale-outputs bug: editing the stage glue, the checkpoint format or the config layer left the
    training and evaluate stages "up to date". Every stage runs all three, so every stage must be marked."""
    exp_run(repo)
    assert dvc("status", cwd=repo).stdout.strip().endswith("up to date.")
    for edited in ("src/lmladder/app/policy.py", "src/lmladder/io/checkpoint.py", "src/lmladder/config.py"):
        path = repo / edited
        original = path.read_text()
        path.write_text(original + "\n# an edit\n")
        try:
            changed = changed_stages(repo)
            assert changed == EVERY_STAGE, (edited, changed)
        finally:
            path.write_text(original)
    edited = repo / "src/lmladder/models/mlp.py"  # a model file reruns its own rung (and evaluate) only
    original = edited.read_text()
    edited.write_text(original + "\n# an edit\n")
    try:  # and the check stage, which types every rung's settings
        assert changed_stages(repo) == {"check", "train@mlp-0", "evaluate"}
    finally:
        edited.write_text(original)


def outs_hashes(repo) -> dict[str, str]:
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    return {o["path"]: o["md5"] for st in lock["stages"].values() for o in st.get("outs", [])}


def test_repro_forced_gives_the_same_bits(repo):
    """Same code, same config, same machine: `dvc repro -f` writes every output again with the same hashes, and
    `dvc metrics diff` against the last run shows nothing (timings live outside every output's hash)."""
    exp_run(repo)
    sh(["git", "add", "-A"], repo)  # the committed metrics are what `dvc metrics diff` compares with
    sh(["git", "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "before repro -f", "--allow-empty"], repo)
    before = outs_hashes(repo)
    dvc("repro", "--force", cwd=repo)
    after = outs_hashes(repo)
    assert after == before, [p for p in before if after.get(p) != before[p]]
    diff = dvc("metrics", "diff", "--json", cwd=repo).stdout.strip()
    assert json.loads(diff or "{}") == {}, diff


def test_ctrl_c_in_dvc_repro_then_repro_continues_bit_for_bit(repo):
    """DVC deletes a stage's outputs before running it again, so a checkpoint kept there would be lost: a stage
    trains in outputs/.partial/ until it finishes. After Ctrl-C, the next `dvc repro` continues from the last
    checkpoint and writes the uninterrupted run's bits."""
    long = ("mlp.train.max_iters=4000", "mlp.train.checkpoint.interval=50", "mlp.train.eval.interval=2000")
    exp_run(repo, *long)
    want = outs_hashes(repo)["outputs/mlp/seed0"]
    exp_run(repo)  # dvc.lock records another run now; then params.yaml asks for the long run again, by hand
    params = yaml.safe_load((repo / "params.yaml").read_text())
    for key, value in (o.split("=") for o in long):  # mlp.train.eval.interval=2000: the nested block's key
        *path, last = key.split(".")
        node = params
        for part in path:
            node = node[part]
        node[last] = int(value)
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    partial = repo / "outputs" / ".partial" / "mlp" / "seed0"
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    p = subprocess.Popen(
        [sys.executable, "-m", "dvc", "repro", "--no-run-cache", "--single-item", "train@mlp-0"],
        cwd=repo,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        # a background job (`pytest ... &`) inherits SIGINT ignored; a terminal's foreground job has the default
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 120
    while not (partial / "model.safetensors").exists():
        assert p.poll() is None and time.monotonic() < deadline, p.communicate()[0]
        time.sleep(0.01)
    os.killpg(p.pid, signal.SIGINT)  # what Ctrl-C in a terminal sends: the whole foreground process group
    out = p.communicate(timeout=600)[0]  # the timeout is a hang guard, not a speed check
    assert p.returncode != 0, out
    said = f"interrupted; `dvc repro` continues from the last checkpoint, kept in {partial.relative_to(repo)}"
    assert said in out, out  # the whole output: a run that trained on after Ctrl-C shows its later steps
    assert not (repo / "outputs" / "mlp" / "seed0").exists()
    # --no-run-cache: DVC would otherwise restore the long run's outputs from its run cache (a run interrupted the
    # first time it is asked for has no such entry)
    r = dvc("repro", "--no-run-cache", "--single-item", "train@mlp-0", cwd=repo)
    assert "continuing the run an interrupted `dvc repro` left in outputs/.partial/mlp/seed0 (step " in r.stdout
    assert outs_hashes(repo)["outputs/mlp/seed0"] == want and not partial.exists()
