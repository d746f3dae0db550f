"""Faults during a run, each a real subprocess in the sandbox: a non-finite loss, a full disk (RLIMIT_FSIZE: the
kernel refuses to grow a file past the limit, like a full disk, even for root), a permission error (injected).
Each returns what the user saw and the files that had to survive; test_faults.py checks them, make_errors_doc.py
lists them."""

from __future__ import annotations

import hashlib
import os
import resource
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .harness import ROOT, Result, Sandbox, run_in_process, run_subprocess

INJECT = Path(__file__).with_name("inject.py")


@dataclass
class Outcome:
    result: Result
    guarded: Path  # the folder whose files had to survive
    before: dict[str, str]
    after: dict[str, str]

    @property
    def message(self) -> str:
        lines = self.result.stderr.strip().splitlines()
        return lines[-1] if lines else ""


def hashes(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and ".hydra" not in p.parts and not p.name.endswith(".log")
    }


def fsize_limit(nbytes: int):
    return lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (nbytes, nbytes))


def _copy_good(sb: Sandbox, name: str) -> Path:
    d = sb.root / "runs" / name
    shutil.rmtree(d, ignore_errors=True)
    shutil.copytree(sb.root / "runs" / "good", d, ignore=shutil.ignore_patterns(".hydra", "*.log"))
    return d


def _guarded_run(folder: Path, run: Callable[[], Result]) -> Outcome:
    before = hashes(folder)
    r = run()
    return Outcome(r, folder, before, hashes(folder))


def _last_checkpoint_only(o: Outcome) -> Outcome:
    """A resumed run legitimately extends its logs and may write a new (complete) best.safetensors when it
    re-evaluates its start step; the checkpoint it resumed from must be untouched."""
    o.before = {k: v for k, v in o.before.items() if k == "model.safetensors"}
    return o


def nonfinite(sb: Sandbox) -> Outcome:
    """A finished run resumed with an absurd learning rate: the loss turns NaN a step later."""
    d = _copy_good(sb, "nonfinite")
    args = ["resume=true", "mlp.optim.lr=1e38", "mlp.optim.schedule.min_lr=0", "mlp.optim.schedule.warmup_iters=0",
            "mlp.optim.grad_clip=null", "mlp.train.max_iters=40"]  # fmt: skip
    return _last_checkpoint_only(_guarded_run(d, lambda: run_subprocess(sb, "mlp", args, str(d))))


def disk_full_checkpoint(sb: Sandbox) -> Outcome:
    d = _copy_good(sb, "diskfull-checkpoint")
    args = ["resume=true", "mlp.train.max_iters=40"]
    return _last_checkpoint_only(
        _guarded_run(d, lambda: run_subprocess(sb, "mlp", args, str(d), preexec=fsize_limit(16_000)))
    )


def permission_denied_checkpoint(sb: Sandbox) -> Outcome:
    d = _copy_good(sb, "denied-checkpoint")
    args = ["fail-replace", "13:model.safetensors", str(sb.root / "stages" / "train.py"),
            *sb.stage_argv("mlp", ["resume=true", "mlp.train.max_iters=40"], str(d))[1:]]  # fmt: skip
    return _last_checkpoint_only(_guarded_run(d, lambda: run_subprocess(sb, "python", [str(INJECT), *args], str(d))))


def disk_full_metrics(sb: Sandbox) -> Outcome:
    """A finished run re-scored (resume=true at max_iters): writing metrics.json fails with ENOSPC."""
    d = _copy_good(sb, "diskfull-metrics")
    args = ["fail-replace", "28:metrics.json", str(sb.root / "stages" / "train.py"),
            *sb.stage_argv("mlp", ["resume=true"], str(d))[1:]]  # fmt: skip
    return _guarded_run(d, lambda: run_subprocess(sb, "python", [str(INJECT), *args], str(d)))


def disk_full_prepare(sb: Sandbox) -> Outcome:
    """`dvc repro prepare` (DVC_STAGE set, the params.yaml snapshot) re-preparing data/prepared on a full disk."""
    dvc = sb.root / "dvc"
    shutil.rmtree(dvc, ignore_errors=True)
    shutil.copytree(sb.root / "data" / "prepared", dvc / "data" / "prepared")
    shutil.copy2(ROOT / "params.yaml", dvc / "params.yaml")
    pre = ["--config-dir", str(dvc), "--config-name", "params", "hydra.output_subdir=null"]
    args = [*pre, f"paths.prepared={dvc}/data/prepared", "data.fractions=[0.7,0.2,0.1]"]
    return _guarded_run(
        dvc / "data",
        lambda: run_subprocess(sb, "prepare", args, str(dvc), env={"DVC_STAGE": "prepare"}, preexec=fsize_limit(2_000)),
    )


def corpus_edited_during_prepare(sb: Sandbox) -> Outcome:
    """`dvc repro prepare` over data/prepared while another program appends to the corpus (inject.py edit-corpus)."""
    d = sb.root / "edited"
    shutil.rmtree(d, ignore_errors=True)
    shutil.copytree(sb.root / "data" / "prepared", d / "data" / "prepared")
    shutil.copy2(ROOT / "params.yaml", d / "params.yaml")
    shutil.copy2(sb.root / "corpora" / "names.txt", d / "names.txt")
    pre = ["--config-dir", str(d), "--config-name", "params", "hydra.output_subdir=null"]
    stage = sb.stage_argv("prepare", [*pre, f"paths.prepared={d}/data/prepared", f"data.path={d}/names.txt"], str(d))
    args = ["edit-corpus", str(d / "names.txt"), *stage]
    return _guarded_run(
        d / "data", lambda: run_subprocess(sb, "python", [str(INJECT), *args], str(d), env={"DVC_STAGE": "prepare"})
    )


def disk_full_report(sb: Sandbox) -> Outcome:
    """The evaluate stage re-writing an existing report (perplexity.csv/md/png, metrics.json) on a full disk."""
    d = sb.root / "runs" / "report"
    # hydra.output_subdir=null: Hydra writes .hydra/*.yaml itself before the stage starts; on a full disk that is
    # Hydra's own error (and traceback), outside lmladder's code
    args = [f"paths.outputs={sb.root}/outputs_names", "hydra.output_subdir=null"]
    first = run_subprocess(sb, "evaluate", args, str(d))
    assert first.rc == 0, first.stderr
    return _guarded_run(d, lambda: run_subprocess(sb, "evaluate", args, str(d), preexec=fsize_limit(1_000)))


def kernels_env_unknown(sb: Sandbox) -> Outcome:
    """LMLADDER_KERNELS names no kernel backend: refused before the resumed run touches its folder."""
    d = _copy_good(sb, "kernels-env")
    args = ["resume=true", "mlp.train.max_iters=40"]
    env = {"LMLADDER_KERNELS": "fast"}
    return _guarded_run(d, lambda: run_subprocess(sb, "mlp", args, str(d), env=env))


def numba_threads_zero(sb: Sandbox) -> Outcome:
    """NUMBA_NUM_THREADS=0, which numba refuses as it is imported: refused before anything is (issue 47)."""
    d = _copy_good(sb, "numba-threads")
    args = ["resume=true", "mlp.train.max_iters=40"]
    return _guarded_run(d, lambda: run_subprocess(sb, "mlp", args, str(d), env={"NUMBA_NUM_THREADS": "0"}))


def gemm_env_unknown(sb: Sandbox) -> Outcome:
    """LMLADDER_GEMM names no GEMM library: refused before the resumed run touches its folder."""
    d = _copy_good(sb, "gemm-env")
    env = {"LMLADDER_GEMM": "cublas"}
    return _guarded_run(
        d, lambda: run_subprocess(sb, "mlp", ["resume=true", "mlp.train.max_iters=40"], str(d), env=env)
    )


def gemm_mkl_missing(sb: Sandbox) -> Outcome:
    """LMLADDER_GEMM=mkl on an environment without MKL (its lib/ holds no libmkl_rt, as before `pip install
    'lmladder[mkl]'`: sys.prefix is pointed at an empty folder by a sitecustomize): refused before any work."""
    d = _copy_good(sb, "gemm-mkl")
    site = sb.root / "no_mkl_site"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(f"import sys\nsys.prefix = {str(site)!r}\n")
    env = {
        "LMLADDER_GEMM": "mkl",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")])),
    }
    return _guarded_run(
        d, lambda: run_subprocess(sb, "mlp", ["resume=true", "mlp.train.max_iters=40"], str(d), env=env)
    )


HOLD = """
import sys
from lmladder.io import run_lock
with run_lock(sys.argv[1]):
    print("held", flush=True)
    sys.stdin.readline()
"""


def run_folder_in_use(sb: Sandbox) -> Outcome:
    """A finished run resumed while another process trains into its folder (holds its run lock; on every OS, as
    filelock locks there): refused at once, the other run's files untouched."""
    d = _copy_good(sb, "in-use")
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(d)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True)  # fmt: skip
    try:
        assert holder.stdout.readline() == "held\n"
        return _guarded_run(d, lambda: run_subprocess(sb, "mlp", ["resume=true", "mlp.train.max_iters=40"], str(d)))
    finally:
        holder.communicate("\n", timeout=120)


def disk_full_export_hf(sb: Sandbox) -> Outcome:
    """`lmladder export --to hf` over an earlier export on a full disk (RLIMIT_FSIZE): safetensors' own error type
    (Rust's "os error 27") becomes the line every other write gets, and the earlier export stays (issue 47)."""
    d = sb.root / "runs" / "export-full"
    shutil.rmtree(d, ignore_errors=True)
    gpt = str(sb.root / "ckpt" / "gpt.safetensors")
    _must_pass(run_subprocess(sb, "cli", ["export", gpt, "--to", "hf", str(d / "hf")], str(d)))
    argv = ["export", gpt, "--to", "hf", str(d / "hf"), "--force"]
    return _guarded_run(d, lambda: run_subprocess(sb, "cli", argv, str(d), preexec=fsize_limit(2_000)))


def _must_pass(r: Result) -> None:
    assert r.rc == 0, r.stderr


def stdout_full(sb: Sandbox) -> Outcome:
    """A finished run re-scored (resume=true at max_iters) with its stdout on a full disk: it stops at its first
    line, before touching the run."""
    d = _copy_good(sb, "stdout-full")
    with open("/dev/full", "w") as full:
        return _guarded_run(d, lambda: run_subprocess(sb, "mlp", ["resume=true"], str(d), stdout=full))


def stdout_file_too_large(sb: Sandbox) -> Outcome:
    """The same with stdout appended to a file already at the file-size limit (RLIMIT_FSIZE: EFBIG)."""
    d, out, limit = _copy_good(sb, "stdout-fsize"), sb.root / "runs" / "stdout-fsize.txt", 1 << 20
    out.write_bytes(b"")
    os.truncate(out, limit)  # sparse: at the limit, yet it takes no disk
    with out.open("a") as f:
        args = (sb, "mlp", ["resume=true"], str(d))
        return _guarded_run(d, lambda: run_subprocess(*args, stdout=f, preexec=fsize_limit(limit)))


def sweep_run_again(sb: Sandbox) -> Outcome:
    """A finished sweep run again into its folder (issue 70): each job finds its folder holding the earlier run and
    leaves it, its status.json included, as it was; Hydra rewrites .hydra/ (the same overrides: the same bytes)."""
    d = sb.root / "runs" / "sweep-again"
    shutil.rmtree(d, ignore_errors=True)
    args = ["-m", "seed=0,1", f"hydra.sweep.dir={d}"]
    _must_pass(run_in_process(sb, "mlp", args, str(d)))  # the earlier sweep: in-process (no interpreter to start)
    return _guarded_run(d, lambda: run_subprocess(sb, "mlp", args, str(d)))


HOLD_STUDY = """
import sys
from pathlib import Path
from lmladder.frontier.study import study_lock
with study_lock(Path(sys.argv[1])):
    print("held", flush=True)
    sys.stdin.readline()
"""


def study_in_use(sb: Sandbox) -> Outcome:
    """`lmladder frontier run` of a study another `frontier run` is running (its study lock): refused at once."""
    d = sb.root / "runs" / "study-in-use"
    shutil.rmtree(d, ignore_errors=True)
    shutil.copytree(sb.root / "frontier" / "planned", d)
    holder = subprocess.Popen([sys.executable, "-c", HOLD_STUDY, str(d)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert holder.stdout.readline() == "held\n"
        return _guarded_run(d, lambda: run_subprocess(sb, "cli", ["frontier", "run", str(d)], str(d)))
    finally:
        holder.communicate("\n", timeout=120)


def fit_two_versions(sb: Sandbox) -> Outcome:
    """Two runs of one data.path whose file was edited between them, fitted as one frontier: refused, named by the
    sha256 of the corpus text each checkpoint records."""
    d = sb.root / "runs" / "two-versions"
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    corpus = d / "names.txt"
    corpus.write_text((sb.root / "corpora" / "names.txt").read_text())
    data = [f"data.path={corpus}", f"paths.prepared={d}/prepared"]
    _must_pass(run_in_process(sb, "mlp", data, str(d / "runs" / "before")))  # the two runs: in-process
    with corpus.open("a") as f:
        f.write("zoe\n")
    _must_pass(run_in_process(sb, "mlp", data, str(d / "runs" / "after")))
    return _guarded_run(d, lambda: run_subprocess(sb, "cli", ["frontier", "fit", str(d / "runs")], str(d)))


@dataclass(frozen=True)
class Scenario:
    id: str
    what: str
    func: Callable[[Sandbox], Outcome]
    problem: str
    fix: str
    command: str = ""  # whose line it is, where not the stage's (test_faults.py: prepare, evaluate or mlp)

    def run(self, sb: Sandbox) -> tuple[str, int]:
        o = self.func(sb)
        return o.message, o.result.rc


SCENARIOS = [
    Scenario("nonfinite-loss", "resume with mlp.optim.lr=1e38: the loss turns NaN", nonfinite,
             r"non-finite loss nan / grad norm nan at step 21 \(parameter 'wte.weight' gradient is non-finite\); "
             r"last good checkpoint kept at .*model.safetensors",
             r"lower mlp.optim.lr=1e\+38, enable mlp.optim.grad_clip= or allow skipping with mlp.train.max_nonfinite="),
    Scenario("disk-full-checkpoint", "a checkpoint write hits a full disk (RLIMIT_FSIZE)", disk_full_checkpoint,
             r"cannot write .*(best|model).safetensors: File too large", r"free disk space \(or quota\)"),
    Scenario("permission-denied-checkpoint", "renaming a checkpoint into place is denied (EACCES)",
             permission_denied_checkpoint, r"cannot write .*model.safetensors: Permission denied",
             r"check permissions of"),
    Scenario("disk-full-metrics", "writing metrics.json hits a full disk (ENOSPC)", disk_full_metrics,
             r"cannot write .*metrics.json: No space left on device", r"free disk space"),
    Scenario("disk-full-prepare", "`dvc repro prepare` re-writes data/prepared on a full disk", disk_full_prepare,
             r"cannot write .*data/prepared: \d+ requested and \d+ written \(the disk is probably full\)",
             r"free disk space"),
    Scenario("corpus-edited-during-prepare", "`dvc repro prepare` while another program appends to the corpus "
             "between prepare's passes", corpus_edited_during_prepare,
             r"names.txt changed while it was being prepared \(its sha256 was \w{12} when first read, \w{12} when "
             r"encoded\)", r"prepare again once nothing writes to it \(or prepare a copy of it\)"),
    Scenario("disk-full-report", "the evaluate stage re-writes its report on a full disk", disk_full_report,
             r"cannot write .*: File too large", r"free disk space"),
    Scenario("disk-full-export-hf", "`lmladder export --to hf --force` over an earlier export on a full disk",
             disk_full_export_hf, r"cannot write .*export-full/hf: File too large", r"free disk space \(or quota\)",
             command="export"),
    Scenario("run-folder-in-use", "a second run into a folder that another training run holds (its run lock)",
             run_folder_in_use, r"in-use is in use by another training run \(process \d+, lock \.lmladder\.lock\)",
             r"wait for it to finish, or train this one into another folder: hydra.run.dir=<a new folder>"),
    Scenario("stdout-full", "the run's standard output is on a full disk (`> /dev/full`)", stdout_full,
             r"cannot write to standard output \(No space left on device\)",
             r"free disk space \(or quota\) on the device it goes to, or send it elsewhere"),
    Scenario("stdout-file-too-large", "the run's standard output is a file at the file-size limit (RLIMIT_FSIZE)",
             stdout_file_too_large, r"cannot write to standard output \(File too large\)",
             r"raise the file-size limit \(ulimit -f\), or send it elsewhere"),
    Scenario("kernels-env-unknown", "LMLADDER_KERNELS=fast in the environment (a backend that does not exist)",
             kernels_env_unknown, r"LMLADDER_KERNELS='fast' is not a kernel backend",
             r"set it to compiled \(the default\) or numpy"),
    Scenario("numba-threads-zero", "NUMBA_NUM_THREADS=0 in the environment (numba refuses it as it is imported)",
             numba_threads_zero, r"NUMBA_NUM_THREADS='0' must be a whole number >= 1",
             r"set it to e.g. 2, or unset it"),
    Scenario("gemm-env-unknown", "LMLADDER_GEMM=cublas in the environment (a GEMM library lmladder does not call)",
             gemm_env_unknown, r"LMLADDER_GEMM='cublas' is not a GEMM library",
             r"set it to openblas \(the default\) or mkl"),
    Scenario("gemm-mkl-missing", "LMLADDER_GEMM=mkl where Intel MKL is not installed", gemm_mkl_missing,
             r"LMLADDER_GEMM=mkl but Intel MKL's runtime \(libmkl_rt with cblas_sgemm_64\) is not installed",
             r"pip install 'lmladder\[mkl\]' \(x86-64\), or unset it for NumPy's OpenBLAS"),
    Scenario("sweep-run-again", "a finished sweep run again into its folder (`-m seed=0,1 hydra.sweep.dir=SW`, "
             "twice): every job's result and status.json kept", sweep_run_again,
             r"all 2 jobs of the sweep found their folders holding another run, and left them as they were",
             r"give a new hydra.sweep.dir, or resume=true to continue them"),
    Scenario("study-in-use", "`lmladder frontier run` of a study that another `frontier run` is running (its lock)",
             study_in_use, r"study-in-use is being run by another `lmladder frontier run` \(process \d+\)",
             r"wait for it to end, then run `lmladder frontier run .*` again", command="frontier"),
    Scenario("fit-two-versions-of-a-corpus", "`lmladder frontier fit` of two runs of one data.path whose file was "
             "edited between them", fit_two_versions,
             r"runs on two versions of the corpus text: .* sha256 is \w{12}, .* on \w{12}",
             r"fit the runs of one version at a time", command="frontier"),
]  # fmt: skip
