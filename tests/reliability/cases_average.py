"""Bad-input cases of weight averaging (train.ema, train.swa, train.average_start, train.ema_warmup; issue 49): the
same contract as cases.py, appended to CASES in their own group ("average") of docs/errors.md."""

from __future__ import annotations

from .case_kit import GOOD, case

T = "transformer.train"

AVERAGE = [
    case("average-ema-one", "average", "transformer", [f"{T}.ema=1"],
         rf"{T}.ema=1.0 must be in \[0, 1\)", r"the EMA's decay; 0 turns it off", fast=True),
    case("average-ema-negative", "average", "mlp", ["mlp.train.ema=-0.5"],
         r"mlp.train.ema=-0.5 must be in \[0, 1\)", r"0 turns it off"),
    case("average-ema-not-a-number", "average", "transformer", [f"{T}.ema=fast"],
         rf"bad value for '{T}.ema'.*'fast'", r"fix it in conf/ or on the command line"),
    case("average-ema-nan", "average", "transformer", [f"{T}.ema=nan"],
         rf"{T}.ema=nan must be in \[0, 1\)", r"0 turns it off"),
    case("average-swa-not-a-flag", "average", "transformer", [f"{T}.swa=sometimes"],
         rf"bad value for '{T}.swa'.*'sometimes'", r"fix it in conf/ or on the command line"),
    case("average-ema-and-swa", "average", "transformer", [f"{T}.ema=0.99", f"{T}.swa=true"],
         rf"{T}.swa=true with {T}.ema=0.99: choose one average", rf"set {T}.ema=0 for SWA, or {T}.swa=false"),
    case("average-start-negative", "average", "transformer", [f"{T}.ema=0.99", f"{T}.average_start=-1"],
         rf"{T}.average_start=-1 must be an integer >= 0", r"integer >= 0"),
    case("average-start-past-the-end", "average", "transformer", [f"{T}.swa=true", f"{T}.average_start=20"],
         rf"{T}.average_start=20 must be < {T}.max_iters=20 \(the average would hold no step\)",
         r"lower it, or raise .*max_iters"),
    case("average-warmup-without-ema", "average", "transformer", [f"{T}.ema_warmup=true"],
         rf"{T}.ema_warmup=true warms up an EMA, and {T}.ema=0 turns it off",
         rf"set {T}.ema= in \(0, 1\), or {T}.ema_warmup=false"),
    case("average-check-stage", "average", "check", ["pipeline=[transformer]", f"{T}.ema=2"],
         rf"{T}.ema=2.0 must be in \[0, 1\)", r"0 turns it off", fast=True),
    # a run that averages from step 0 cannot continue a checkpoint of 20 steps that averaged nothing
    case("average-resume-without-an-average", "average", "mlp",
         [f"resume={GOOD}", "mlp.train.max_iters=40", "mlp.train.ema=0.9"],
         r"cannot resume from .*good/model.safetensors: it is at step 20 and holds no average of its weights, and "
         r"this run averages them from mlp.train.average_start=0",
         r"set mlp.train.average_start >= 20, or start a new run"),
]  # fmt: skip
