"""`lmladder compare`: fast tests on fabricated tables and a git repository; a slow one on a queued DVC grid."""

import hashlib
import io
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lmladder.cli import main
from lmladder.inference.units import SplitUnits, save_units
from lmladder.reports.compare import Table, compare, load, verdict

from .test_pipeline_e2e import TINY, dvc, project_env, repo, sh  # noqa: F401  (repo: the temporary project copy fixture)


def table(rows, by=("hidden",)):
    df = pd.DataFrame(rows, columns=[*by, "n", "val_nll", "val_nll_std"])
    return Table(df, list(by), "t")


def test_verdicts_follow_the_seed_spread():
    assert verdict("val_nll", 2.0, 1.9, 0.05, 0.02, 3, 3) == "B better"
    assert verdict("val_nll", 2.0, 1.97, 0.05, 0.02, 3, 3) == "within noise"
    assert verdict("val_nll", 2.0, 2.1, 0.01, 0.02, 3, 3) == "B worse"
    assert verdict("tokens_per_s", 100.0, 200.0, 1.0, 1.0, 2, 2) == "B better"  # higher is better here
    assert verdict("params", 100.0, 200.0, 0.0, 0.0, 2, 2) == "different"
    assert verdict("val_nll", 2.0, 2.0, 0.0, 0.0, 1, 1) == "same"
    assert verdict("val_nll", 2.278615660, 2.278615669, 0.005, 0.005, 2, 2) == "same"  # float32 rounding only
    assert verdict("val_nll", 2.0, 1.9, 0.0, 0.0, 1, 1) == "n=1: no seed spread"
    assert verdict("val_nll", float("nan"), 1.9, 0.0, 0.1, 0, 2) == "failed in A"


def test_rows_align_by_setting_in_a_order_with_deltas():
    a = table([(64, 2, 2.0, 0.01), (32, 2, 2.2, 0.01), (16, 2, 2.5, 0.01)])
    b = table([(32, 3, 2.1, 0.02), (64, 2, 2.005, 0.02), (128, 2, 1.9, 0.01)])
    out, by = compare(a, b)
    assert by == ["hidden"] and list(out["hidden"]) == ["64", "32", "16", "128"]
    assert out["val_nll_delta"].round(6).tolist()[:2] == [0.005, -0.1]
    assert list(out["val_nll_verdict"]) == ["within noise", "B better", "only in A", "only in B"]
    assert list(out["n_B"].fillna(0).astype(int)) == [2, 3, 0, 2]


def test_different_columns_align_on_one_setting_label():
    a = table([("mlp", 1, 2.1, 0.0)], by=("rung",))
    b = table([("mlp", 1, 2.0, 0.0)], by=("setting",))
    out, by = compare(a, b)
    assert by == ["setting"] and out["val_nll_delta"].round(6).tolist() == [-0.1]


def write_report(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows, columns=["rung", "n", "val_nll", "val_nll_std"]).to_csv(path, index=False)


def test_compare_a_git_revision_with_the_workspace(tmp_path, capsys):
    git = ["git", "-c", "user.email=t@t", "-c", "user.name=t"]
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    report = tmp_path / "outputs" / "reports" / "perplexity.csv"
    write_report(report, [("mlp", 3, 2.2, 0.01), ("bigram", 3, 2.45, 0.0)])
    subprocess.run([*git, "add", "-A"], cwd=tmp_path, check=True)
    subprocess.run([*git, "commit", "-qm", "v1"], cwd=tmp_path, check=True)
    write_report(report, [("mlp", 3, 2.1, 0.01), ("bigram", 3, 2.45, 0.0)])

    assert load("HEAD:", repo=tmp_path).summary["val_nll"].tolist() == [2.2, 2.45]
    out = tmp_path / "cmp"
    assert main(["compare", "HEAD:outputs/reports", str(report), "--repo", str(tmp_path), "--out", str(out)]) == 0
    md = capsys.readouterr().out
    assert "| mlp    | 3     | 3     | 2.2000 ± 0.0100 | 2.1000 ± 0.0100 | -0.1000     | -4.55% | B better  |" in md
    assert "| bigram | 3     | 3     | 2.4500 ± 0.0000 | 2.4500 ± 0.0000 | +0.0000     | +0.00% | same      |" in md
    assert (out / "compare.csv").exists() and (out / "compare.md").read_text() == md[:-1]


def test_timings_come_from_the_timing_table_beside_each_report(tmp_path, capsys):
    for side, seconds in (("a", 10.0), ("b", 5.0)):
        write_report(tmp_path / side / "perplexity.csv", [("mlp", 2, 2.1, 0.01)])
        timing = pd.DataFrame([("mlp", 2, seconds, 0.5)], columns=["rung", "n", "train_time_s", "train_time_s_std"])
        timing.to_csv(tmp_path / side / "timing.csv", index=False)
    a, b = load(str(tmp_path / "a")), load(str(tmp_path / "b" / "perplexity.csv"))
    assert a.by == b.by == ["rung"] and b.summary["train_time_s"].tolist() == [5.0]
    out, _ = compare(a, b, ("val_nll", "train_time_s"))
    assert out["train_time_s_verdict"].tolist() == ["B better"] and out["val_nll_verdict"].tolist() == ["same"]


def test_bad_sides_are_one_line_errors(tmp_path, capsys):
    assert main(["compare", str(tmp_path / "nope.csv"), str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "neither a file/folder nor REV:PATH" in err
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    assert main(["compare", "no-such-rev:", str(tmp_path), "--repo", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot read outputs/reports/perplexity.csv at 'no-such-rev'" in err


def test_a_metric_given_twice_is_compared_once(tmp_path, capsys):
    """--metric val_nll --metric val_nll raised a pandas ValueError (two columns set into one)."""
    for side in ("a", "b"):
        write_report(tmp_path / side / "perplexity.csv", [("mlp", 2, 2.1, 0.01)])
    args = ["compare", str(tmp_path / "a"), str(tmp_path / "b"), "--metric", "val_nll", "--metric", "val_nll"]
    assert main(args) == 0
    assert capsys.readouterr().out.count("val nll A") == 1


def units_report(folder, shift):
    """A report folder as the evaluate stage writes it: perplexity.csv, runs.csv, units/mlp/seed0.npz (200 names of
    5 tokens; `shift` nats added to every token's NLL). Returns the unit file's bytes."""
    tokens = np.full(200, 5, np.int64)
    nll = (np.random.default_rng(0).uniform(1.5, 2.5, 200) + shift) * tokens
    u = SplitUnits(nll=nll, tokens=tokens, chars=tokens, bytes=tokens, unit="document", digest="d" * 64)
    save_units(folder / "units" / "mlp" / "seed0.npz", {"val": u, "test": u})
    m = u.mean_nll
    write_report(folder / "perplexity.csv", [("mlp", 1, m, 0.0)])
    runs = pd.DataFrame(
        [("mlp", 0, "mlp/seed0", "ok", m, m)], columns=["rung", "seed", "job", "status", "val_nll", "test_nll"]
    )
    runs.to_csv(folder / "runs.csv", index=False)
    return (folder / "units" / "mlp" / "seed0.npz").read_bytes()


def test_a_revisions_unit_scores_come_from_the_dvc_cache(tmp_path, capsys):
    """units/ is a DVC output: `compare HEAD:` reads it at HEAD from the cache and prints the paired test; an
    older commit without units/ gets none; a damaged cache object or a missing one is a one-line error."""
    git = ["git", "-c", "user.email=t@t", "-c", "user.name=t"]
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    dvc("init", "-q", cwd=tmp_path)
    reports = tmp_path / "outputs" / "reports"
    write_report(reports / "perplexity.csv", [("mlp", 1, 2.1, 0.0)])
    subprocess.run([*git, "add", "-A"], cwd=tmp_path, check=True)
    subprocess.run([*git, "commit", "-qm", "before units"], cwd=tmp_path, check=True)
    committed = units_report(reports, 0.0)
    dvc("add", "-q", "outputs/reports/units", cwd=tmp_path)
    subprocess.run([*git, "add", "-A"], cwd=tmp_path, check=True)
    subprocess.run([*git, "commit", "-qm", "units"], cwd=tmp_path, check=True)
    units_report(reports, -0.1)  # the workspace's report: 0.1 nats lower on every name

    def compare_with(rev):
        code = main(["compare", rev, str(reports), "--repo", str(tmp_path)])
        out, err = capsys.readouterr()
        return code, out, err

    code, out, _ = compare_with("HEAD:")
    assert code == 0 and "## Paired bootstrap" in out
    row = next(ln for ln in out.splitlines() if ln.startswith("| mlp ") and "[" in ln)
    assert "-0.1000 [-0.1000, -0.1000]" in row and row.rstrip("| ").endswith("better")
    code, out, _ = compare_with("HEAD~1:")
    assert code == 0 and "No paired test" in out

    cached = tmp_path / ".dvc" / "cache" / "files" / "md5" / hashlib.md5(committed).hexdigest()[:2]
    cached /= hashlib.md5(committed).hexdigest()[2:]
    cached.chmod(0o644)
    cached.write_bytes(committed[:100])  # cut short
    code, _, err = compare_with("HEAD:")
    assert code == 2 and err.count("\n") == 1
    assert "HEAD:outputs/reports/units/mlp/seed0.npz is truncated or corrupt" in err
    cached.unlink()  # a clone that never pulled it
    code, _, err = compare_with("HEAD:")
    assert code == 2 and err.count("\n") == 1 and "cannot read outputs/reports/units at 'HEAD'" in err
    assert "dvc pull" in err


def test_a_revisions_malformed_runs_table_is_a_one_line_error(tmp_path, capsys):
    git = ["git", "-c", "user.email=t@t", "-c", "user.name=t"]
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    dvc("init", "-q", cwd=tmp_path)
    reports = tmp_path / "outputs" / "reports"
    units_report(reports, 0.0)
    dvc("add", "-q", "outputs/reports/units", cwd=tmp_path)
    (reports / "runs.csv").write_text('rung,seed,job\n"mlp,0,mlp/seed0\n')  # a quote never closed
    subprocess.run([*git, "add", "-A"], cwd=tmp_path, check=True)
    subprocess.run([*git, "commit", "-qm", "units, damaged runs.csv"], cwd=tmp_path, check=True)
    code = main(["compare", "HEAD:", str(reports / "perplexity.csv"), "--repo", str(tmp_path)])
    _, err = capsys.readouterr()
    assert code == 2 and err.count("\n") == 1
    assert "HEAD:outputs/reports/runs.csv is not a runs table" in err and "re-run `lmladder report`" in err


# --- a queued DVC grid (slow) ------------------------------------------------------------------------------------


def start_queue(path, jobs: int, log: Path):
    """`dvc queue start -j jobs`, its output into a file: the workers it leaves running inherit it, and a pipe
    would keep the call waiting for as long as any worker lives (DVC 3.67 once left one alive after the queue
    had emptied, and the test hung)."""
    with open(log, "w") as out:  # outside the project: an untracked file there would go into every experiment
        cmd = [sys.executable, "-m", "dvc", "queue", "start", "-j", str(jobs)]
        subprocess.run(cmd, cwd=path, env=project_env(), stdout=out, stderr=subprocess.STDOUT, check=True, timeout=300)


def wait_for_queue(path, timeout=1200):
    """The queue's status once nothing is queued or running; `timeout` is a hang guard for a busy machine."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        status = dvc("queue", "status", cwd=path).stdout
        if not any(s in status for s in ("Queued", "Running")):
            return status
        time.sleep(2)
    dvc("queue", "kill", "--all", cwd=path, check=False)
    raise AssertionError(f"queue still busy after {timeout}s:\n{status}")


@pytest.mark.slow
def test_queued_grid_then_exp_show_and_compare(repo, tmp_path):  # noqa: F811
    tiny = [o for o in TINY if not o.startswith("mlp.model")]
    args = ["exp", "run", "--queue", "-S", "mlp.model.n_hidden=16,32", "-S", "seeds=[0,1]"]
    for o in tiny:
        args += ["-S", o]
    dvc(*args, cwd=repo)
    start_queue(repo, 2, tmp_path / "queue-start.log")
    try:
        status = wait_for_queue(repo)
    finally:
        dvc("queue", "stop", cwd=repo, check=False, timeout=300)  # no worker outlives the test
    assert status.count("Success") == 2, status

    shown = pd.read_csv(io.StringIO(dvc("exp", "show", "--csv", cwd=repo).stdout))
    exps = shown[shown["State"] == "Success"].copy()  # the baseline rows show "!" (no metrics committed)
    for c in ("mlp.model.n_hidden", "mlp.n", "mlp.val_nll", "mlp.val_nll_std"):
        exps[c] = pd.to_numeric(exps[c])
    exps = exps.set_index("mlp.model.n_hidden")
    assert sorted(exps.index) == [16, 32]
    assert (exps["mlp.n"] == 2).all() and (exps["seeds"] == "[0, 1]").all()
    small, big = exps.loc[16], exps.loc[32]

    r = sh([sys.executable, "-m", "lmladder", "compare", f"{small['Experiment']}:", f"{big['Experiment']}:"], repo)
    rows = {ln.split("|")[1].strip(): ln for ln in r.stdout.splitlines() if ln.startswith("| ") and "---" not in ln}
    assert rows["bigram"].rstrip("| ").endswith("same") and rows["transformer"].rstrip("| ").endswith("same")
    assert f"{small['mlp.val_nll']:.4f} ± {small['mlp.val_nll_std']:.4f}" in rows["mlp"]
    assert f"{big['mlp.val_nll']:.4f} ± {big['mlp.val_nll_std']:.4f}" in rows["mlp"]

    # an experiment against the workspace: apply one, compare the other with outputs/reports
    dvc("exp", "apply", small["Experiment"], cwd=repo)
    r = sh([sys.executable, "-m", "lmladder", "compare", f"{big['Experiment']}:"], repo)
    assert "| mlp " in r.stdout and "B: `outputs/reports`" in r.stdout
    diff = dvc("params", "diff", small["Experiment"], big["Experiment"], cwd=repo).stdout
    assert "mlp.model.n_hidden" in diff
