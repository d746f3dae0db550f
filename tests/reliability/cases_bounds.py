"""Bad-input cases of issue 70 (every size a user gives bounded before work starts; messages that name the fix): the
same contract as cases.py, appended to CASES, each at the end of its group of docs/errors.md. Files: bounds_files.py.
Thread variables and a missing psutil are checked as lmladder is imported, so their cases are real subprocesses in
test_bounds.py."""

from __future__ import annotations

from .case_kit import GOOD, F, case

B = f"{F}/bounds"
LIMIT = "LMLADDER_MEMORY_LIMIT"
T = "transformer.train"
TEACHER = (f"{T}.teacher.order=10", f"{T}.teacher.weight=0.2")

BOUNDS = [
    # class 7: sizes bounded before any work
    case("frontier-preset-billion-laughs", "frontier", "cli", ["frontier", "plan", f"{B}/laughs.yaml"],
         r"laughs.yaml holds more than 10,000 values and keys once its aliases \(\*name\) are expanded",
         r"write out the values it needs, without aliases of aliases", fast=True),
    case("report-hydra-config-billion-laughs", "report", "cli", ["report", f"{B}/laughs_sweep"],
         r"0/.hydra/config.yaml holds more than 10,000 values and keys once its aliases", r"without aliases of"),
    case("frontier-calibration-steps-huge", "frontier", "cli", ["frontier", "plan", f"{B}/calibration_huge.yaml"],
         r"calibration_steps=1000000000 must be an integer in \[1, 1000\] \(plan trains each size twice that many",
         r"30 is plenty"),
    case("frontier-fit-bootstrap-huge", "frontier", "cli", ["frontier", "fit", "{sb}/runs/good", "--bootstrap",
                                                            "100000000"],
         r"--bootstrap 100000000 must be <= 10,000 \(each replicate refits every law",
         r"the default 200 is enough for a report"),
    case("frontier-budget-too-large", "frontier", "cli", ["frontier", "plan", f"{B}/budget_huge.yaml", "--out",
                                                          "{sb}/runs/frontier-huge"],
         r"budgets.flops=1e\+30 buys [\d.]+e\+23 steps of mlp n_hidden=32 .*more than the 1e\+08 one run may plan",
         r"lower the largest budget or add larger sizes"),
    case("teacher-order-over-memory", "teacher", "transformer", [*TEACHER],
         r"teacher.order=10 \([\d,]+ distinct 10-grams in train, \d+ counts each\) needs about .* but 8.0 MiB is "
         rf"available under {LIMIT}=8M", r"teacher.order=\d fits; lower it, or free memory", env={LIMIT: "8M"}),
    # class 9: messages that name the fix
    case("frontier-preset-duplicate-key", "frontier", "cli", ["frontier", "plan", f"{B}/duplicate_key.yaml"],
         r"duplicate_key.yaml is not a readable YAML preset \(line \d+, column 1: found duplicate key name\)",
         r"fix it"),
    case("frontier-band-keeps-no-point", "frontier", "cli", ["frontier", "plan", f"{B}/band_keeps_nothing.yaml",
                                                             "--out", "{sb}/runs/frontier-band"],
         r"tokens_per_param=\[1e\+06, 1e\+07\] keeps no point of mlp: its sizes and budgets give [\d.]+ tokens per",
         r"widen the band, or change the budgets or sizes"),
    case("frontier-rung-band-one-number", "frontier", "cli", ["frontier", "plan", f"{B}/rung_band_one_number.yaml"],
         r"rungs.mlp.tokens_per_param=\[1000\] must be \[low, high\] with 0 <= low < high", r"e.g. \[2, 2000\]"),
    case("frontier-rung-band-keeps-no-point", "frontier", "cli", ["frontier", "plan",
                                                                  f"{B}/rung_band_keeps_nothing.yaml", "--out",
                                                                  "{sb}/runs/frontier-rung-band"],
         r"tokens_per_param=\[1e\+06, 1e\+07\] keeps no point of mlp: its sizes and budgets give [\d.]+ tokens per",
         r"widen the band, or change the budgets or sizes"),
    case("frontier-budget-zero", "frontier", "cli", ["frontier", "plan", f"{B}/budget_zero.yaml"],
         r"budgets.flops=0 must be a list of distinct numbers > 0", r"e.g. \[1.0e11, 1.0e12\]"),
    case("frontier-run-timed-on-another-cpu", "frontier", "cli", ["frontier", "run", f"{B}/timed_elsewhere"],
         r"timed_elsewhere's seconds budgets were timed on an imaginary CPU 9000 \(96 cores\), and this machine is ",
         r"plan the study again on this machine \(lmladder frontier plan conf/frontier/names.yaml --out NEW_FOLDER\)"),
    case("frontier-run-slurm-without-slurm", "frontier", "cli", ["frontier", "run", f"{F}/planned", "--launcher",
                                                                 "slurm"],
         r"--launcher slurm submits each point with SLURM's sbatch and srun, and this machine has neither on its PATH",
         r"run it on the cluster's login node, or use --launcher local, joblib or slurm_local here",
         env={"PATH": "/nonexistent/lmladder-test"}),
    case("teacher-order-too-long", "teacher", "transformer", ["data.tokenizer=byte", f"{T}.teacher.order=8",
                                                              f"{T}.teacher.weight=0.2"],
         r"teacher.order=8 is too long for 256 tokens \(its n-grams' codes would overflow 64 bits\)",
         r"the longest is .*teacher.order=7"),
    case("memory-limit-fraction-of-a-byte", "memory", "cli", ["sample", GOOD], r"LMLADDER_MEMORY_LIMIT='0.5' has a "
         r"fraction of a byte \(a number without a unit is bytes\)", r"give whole bytes, or a unit: e.g. 0.5G is 512 "
         r"MiB", env={LIMIT: "0.5"}),
    case("memory-limit-zero", "memory", "cli", ["sample", GOOD], r"LMLADDER_MEMORY_LIMIT='0' leaves no memory at all",
         r"give a size such as 8G \(or unset it\)", env={LIMIT: "0"}),
]  # fmt: skip
