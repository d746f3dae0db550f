"""`lmladder frontier plan | run | fit` (docs/frontier.md): which rung wins at which compute budget.

lmladder frontier plan conf/frontier/names.yaml               # -> outputs/frontier/names/plan.json (the grid)
lmladder frontier run outputs/frontier/names                  # every point not finished yet, as one Hydra sweep
lmladder frontier run outputs/frontier/names --launcher joblib --jobs 2
lmladder frontier fit outputs/frontier/names                  # -> outputs/frontier/names/frontier/report.md
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
from pathlib import Path

from ..frontier.preset import FrontierError
from ..frontier.study import LAUNCHERS
from ..resources import cpu_model
from .common import CliError

PRESET_BYTES = 1 << 20  # a preset is a page of YAML
JOBS = 2  # the parallel jobs plan's estimate is also given for (run --jobs' default)
MAX_BOOTSTRAP = 10_000
LAUNCHER_HELP = "local (one after another), joblib (--jobs at once), slurm, slurm_local (submitit), mpi (--ranks)"


def cmd_plan(a: argparse.Namespace) -> int:
    from ..frontier.branches import own_tokens
    from ..frontier.preset import parse_preset
    from ..frontier.study import check_unplanned, write_plan
    from .frontier_plan import estimate_seconds, fmt_duration, make_plan, own_steps

    path = Path(a.preset)
    preset = parse_preset(_read_preset(path), str(path))
    study = Path(a.out or f"outputs/frontier/{preset.name}")
    check_unplanned(study)
    plan = make_plan(preset, list(a.overrides), str(path), calibrate=a.calibrate)
    write_plan(study, plan)
    points = plan["points"]
    flops = sum(own_tokens(p) * p["counts"]["flops_per_token"] for p in points if p["kind"] != "reference")
    steps = own_steps(plan)
    print(f"[frontier] {len(points)} runs planned ({steps:,} steps, {flops:.3g} FLOPs of training) -> "
          f"{study / 'plan.json'}")  # fmt: skip
    if est := estimate_seconds(plan, jobs=JOBS):
        one = sum(estimate_seconds(plan) or est)
        print(f"[frontier] estimated on this machine: {sum(est):,.0f} CPU-seconds ({est[0]:,.0f} training, "
              f"{est[1]:,.0f} scoring and start-up): {fmt_duration(one)} one run at a time, about "
              f"{fmt_duration(sum(est) / JOBS)} with --launcher joblib --jobs {JOBS}")  # fmt: skip
    else:
        print("[frontier] plan --calibrate times each size and estimates the study's CPU-seconds on this machine")
    print(f"[frontier] next: lmladder frontier run {study}")
    return 0


def _read_preset(path: Path):
    """The preset file's mapping (OmegaConf's YAML, interpolations resolved), its size bounded before it is built."""
    from omegaconf import OmegaConf

    from ..io import read_user_file
    from ..io.yaml_text import check_yaml, yaml_reason

    fix = "give a preset file, e.g. conf/frontier/names.yaml"
    data = read_user_file(path, what=f"preset {path}", fix=fix, error=FrontierError, missing=f"no preset at {path}; "
                          f"{fix}", max_bytes=PRESET_BYTES, too_big=f"more than any preset needs; {fix}")  # fmt: skip
    try:
        text = data.decode("utf-8")
        check_yaml(text, str(path), FrontierError)  # its size with aliases expanded, before OmegaConf copies them
        return OmegaConf.to_container(OmegaConf.create(text), resolve=True)
    except FrontierError:
        raise
    except Exception as e:  # noqa: BLE001 - YAML and OmegaConf raise many kinds; each is a bad file
        raise FrontierError(f"{path} is not a readable YAML preset ({yaml_reason(e)}); fix it") from None


def cmd_run(a: argparse.Namespace) -> int:
    from ..frontier.study import load_plan, study_lock

    if bad := [o for o in a.overrides if not o.startswith(("hydra.", "hydra/"))]:
        raise CliError(f"{bad[0]}: only hydra.* overrides (the launcher's); a point's settings are fixed by its plan")
    if a.jobs < 1 or a.ranks < 1:
        raise CliError(f"--jobs {a.jobs} / --ranks {a.ranks} must be >= 1")
    study = Path(a.study)
    plan = load_plan(study)
    with study_lock(study):  # a second run of this study at once is refused, before it touches a point
        return _run_points(a, study, plan)


def _run_points(a: argparse.Namespace, study: Path, plan: dict) -> int:
    from ..frontier.branches import launch_phases
    from ..frontier.study import launch_argv, launcher_problem, stage_points, states
    from .frontier_plan import estimate_seconds, fmt_duration

    if not Path("stages/train.py").is_file():
        raise FrontierError("no stages/train.py here; run lmladder frontier from the project root")
    if problem := launcher_problem(a.launcher):
        raise FrontierError(problem)
    timed_here = a.launcher == "slurm" or _calibrated_here(plan, study)  # slurm: the points run on its nodes
    before = states(study, plan)
    todo = [pid for pid, s in before.items() if s != "finished"]
    if not todo:
        print(f"[frontier] all {len(before)} points finished; next: lmladder frontier fit {study}")
        return 0
    partial = sum(before[p] in ("partial", "failed") for p in todo)
    jobs = a.jobs if a.launcher == "joblib" else 1
    est = timed_here and estimate_seconds({**plan, "points": [p for p in plan["points"] if p["id"] in set(todo)]}, jobs)
    about = f", about {fmt_duration(sum(est) / jobs)} on the machine it was calibrated on" if est else ""
    print(f"[frontier] {len(todo)} of {len(before)} points to run ({partial} continue or retry){about}", flush=True)
    commit = _commit()
    for ids in launch_phases(study, plan, todo):  # cool-down branches after their stable runs (frontier/branches.py)
        stage_points(study, plan, ids, commit)
        points = [p for p in plan["points"] if p["id"] in set(ids)]
        for argv in launch_argv(study, points, a.launcher, jobs=a.jobs, ranks=a.ranks, extra=list(a.overrides)):
            _launch(argv)
    after = states(study, plan)
    left = [p for p, s in after.items() if s != "finished"]
    if left:
        raise FrontierError(
            f"{len(left)} of {len(after)} points did not finish (the first: {study / 'runs' / left[0]}, "
            f"{after[left[0]]}); fix what their errors say, then `lmladder frontier run {study}` runs just those (a "
            f"point that fails again on its own files, a corrupt checkpoint, starts over once its folder is moved "
            f"out of {study / 'runs'})"
        )
    print(f"[frontier] all {len(after)} points finished; next: lmladder frontier fit {study}")
    return 0


def _calibrated_here(plan: dict, study: Path) -> bool:
    """Whether plan.json's tokens/s were measured on this CPU (its model and cores), or not measured at all. Seconds
    budgets timed on another CPU are refused (their steps take another time here: a "1.5 s" point trained for 121 s);
    a FLOP plan only loses its estimate of the duration, said in a note."""
    cal = plan.get("calibration")
    if not isinstance(cal, dict):
        return True
    cpu = cpu_model()
    theirs, here = f"{cal.get('cpu')} ({cal.get('cores')} cores)", f"{cpu} ({os.cpu_count()} cores)"
    # a plan written before Linux's names carried their family and model numbers names the CPU alone
    if cal.get("cores") == os.cpu_count() and cal.get("cpu") in (cpu, cpu.split(" (family ")[0]):
        return True
    if any(p.get("kind") == "seconds" for p in plan["points"]):
        raise FrontierError(
            f"{study}'s seconds budgets were timed on {theirs}, and this machine is {here}: each point's steps "
            f"would take another time here; plan the study again on this machine (lmladder frontier plan "
            f"{plan.get('source', 'PRESET')} --out NEW_FOLDER), or run it where it was planned"
        )
    print(f"[frontier] note: the plan was timed on {theirs}, not on this {here}: no estimate of the duration")
    return False


def _launch(argv: list[str]) -> None:
    """Run one launch to its end. Ctrl-C reaches it too (one process group) and SIGTERM is passed on: either way
    it stops at once, its checkpoints kept, and so does this command."""
    proc = subprocess.Popen(argv)  # noqa: S603 - our own stage script, with the interpreter running us
    old = signal.signal(signal.SIGTERM, lambda signum, _: proc.send_signal(signum))
    try:
        proc.wait()
    except KeyboardInterrupt:
        proc.wait()
        raise
    finally:
        signal.signal(signal.SIGTERM, old)
    if proc.returncode in (-signal.SIGTERM, -signal.SIGINT, 130, 143):
        raise KeyboardInterrupt("(the points finished so far are kept; run it again to go on)")


def _commit() -> str:
    """The code's git commit, with "-dirty" when tracked files differ from it; "unknown" outside a repository."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True, timeout=30)
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    if head.returncode:
        return "unknown"
    return head.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


def cmd_fit(a: argparse.Namespace) -> int:
    from ..frontier.fits.analysis import fit_study
    from ..frontier.fits.crossover_table import crossovers
    from ..frontier.report import write_fit
    from ..frontier.runs import read_runs
    from ..io import check_output_folder, output_folder

    if a.bootstrap < 0:
        raise CliError(f"--bootstrap {a.bootstrap} must be >= 0 (0: no intervals)")
    if a.bootstrap > MAX_BOOTSTRAP:
        raise CliError(
            f"--bootstrap {a.bootstrap} must be <= {MAX_BOOTSTRAP:,} (each replicate refits every law, and 95% "
            "intervals settle within 2,000); the default 200 is enough for a report"
        )
    sources = [Path(d) for d in a.dirs]
    out = Path(a.out) if a.out else sources[0] / "frontier"
    place = {"writer": "frontier fit", "inputs": sources}
    check_output_folder(out, **place)  # before reading the runs: a refusal costs nothing
    runs, corpus = read_runs(sources, _train_tokens)
    if old := corpus["undigested"]:
        print(f"[frontier] note: {len(old)} runs (the first: {old[0]}) record no sha256 of their corpus text (trained "
              "before lmladder recorded it): matched to the others by their data settings alone")  # fmt: skip
    res = fit_study(runs, train_tokens=corpus["train_tokens"], n_boot=a.bootstrap, seed=a.seed)
    name = str((corpus["data"] or {}).get("name", "?"))
    title = a.title or f"Compute frontier: {', '.join(map(str, sources))}"
    with output_folder(out, **place) as tmp:
        write_fit(res, tmp, title=title, corpus=name)
    for line in crossovers(res)["statement"] if res.est.crossings or res.references else []:  # (axis: what)
        print(f"[frontier] {line}")
    print(f"[frontier] {len(res.used)} runs fitted -> {out}/report.md (runs.csv, metrics.json, *.csv, *.png)")
    return 0


def _train_tokens(data: dict) -> int:
    """The train targets of a corpus no plan recorded: its prepared copy here if there is one, else prepared in a
    temporary folder, deleted after (fit never writes into this folder's data/, which DVC's prepare stage owns)."""
    import tempfile

    from ..config import merge
    from ..data import DataConfig, ensure_prepared
    from ..data.store import find_prepared
    from ..frontier.plan import train_targets

    config = merge(DataConfig, {k: v for k, v in data.items() if k in DataConfig.__dataclass_fields__}, "data.")
    if found := find_prepared(config, prepared_dir="data/prepared", cache_root="data/prepared/cache"):
        return train_targets(found[0])
    print(f"[frontier] counting the train tokens of {config.name} (no plan recorded them): preparing it apart")
    with tempfile.TemporaryDirectory(prefix="lmladder-fit-") as tmp:
        prepared, _ = ensure_prepared(config, prepared_dir=Path(tmp) / "none", cache_root=tmp, log=lambda *_: None)
        n = train_targets(prepared)
        del prepared  # its arrays map files in tmp, and Windows deletes no mapped file
    return n


def add_parser(sub) -> None:
    what = "the compute frontier: plan a grid of runs, run it, fit scaling laws (docs/frontier.md)"
    f = sub.add_parser("frontier", help=what, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    fs = f.add_subparsers(dest="frontier_command", required=True)
    p = fs.add_parser("plan", help="a preset -> a study folder with its grid (plan.json)")
    p.add_argument("preset", help="conf/frontier/<name>.yaml")
    p.add_argument("overrides", nargs="*", help="Hydra overrides for every run, e.g. data.path=/path/to/names.txt")
    p.add_argument("--out", help="the study folder (default: outputs/frontier/<name>)")
    p.add_argument("--calibrate", action="store_true", help="time every size (tokens/s) to estimate the duration")
    p.set_defaults(func=cmd_plan)
    r = fs.add_parser("run", help="train every point not finished yet (a killed run continues)")
    r.add_argument("study", help="the study folder `plan` wrote")
    r.add_argument("overrides", nargs="*", help="hydra.* overrides for the launcher, e.g. hydra.launcher.partition=cpu")
    r.add_argument("--launcher", choices=list(LAUNCHERS), default="local", help=LAUNCHER_HELP)
    r.add_argument("--jobs", type=int, default=JOBS, help=f"joblib: points at once (default {JOBS})")
    r.add_argument("--ranks", type=int, default=2, help="mpi: ranks per point (default 2)")
    r.set_defaults(func=cmd_run)
    t = fs.add_parser("fit", help="read the runs, fit, write report.md with tables, figures and metrics.json")
    t.add_argument("dirs", nargs="+", help="study folders and/or sweep folders (one corpus)")
    t.add_argument("--out", help="where to write (default: FIRST_DIR/frontier)")
    t.add_argument("--bootstrap", type=int, default=200, help="bootstrap replicates for the intervals (default 200)")
    t.add_argument("--seed", type=int, default=0, help="the bootstrap's seed (>= 0)")
    t.add_argument("--title", help="the report's title")
    t.set_defaults(func=cmd_fit)
