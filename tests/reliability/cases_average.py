"""Bad-input cases of weight averaging (train.average: name, decay, start, warmup; issues 49 and 71): the same
contract as cases.py, appended to CASES in their own group ("average") of docs/errors.md."""

from __future__ import annotations

from .case_kit import GOOD, case

T = "transformer.train.average"
EMA = f"{T}.name=ema"
NOT_READ = r"it would change nothing"

AVERAGE = [
    case("average-decay-one", "average", "transformer", [EMA, f"{T}.decay=1"],
         rf"{T}.decay=1.0 must be in \(0, 1\)", r"must be in \(0, 1\)"),
    case("average-decay-negative", "average", "mlp", ["mlp.train.average.name=ema", "mlp.train.average.decay=-0.5"],
         r"mlp.train.average.decay=-0.5 must be in \(0, 1\)", r"must be in \(0, 1\)"),
    case("average-decay-not-a-number", "average", "transformer", [EMA, f"{T}.decay=fast"],
         rf"bad value for '{T}.decay'.*'fast'", r"fix it in conf/ or on the command line"),
    case("average-decay-nan", "average", "transformer", [EMA, f"{T}.decay=nan"],
         rf"{T}.decay=nan must be in \(0, 1\)", r"must be in \(0, 1\)"),
    case("average-name-unknown", "average", "transformer", [f"{T}.name=both"],
         rf"{T}.name='both'", r"choose one of none, ema, swa"),
    case("average-start-negative", "average", "transformer", [EMA, f"{T}.start=-1"],
         rf"{T}.start=-1 must be an integer >= 0", r"integer >= 0"),
    case("average-start-past-the-end", "average", "transformer", [f"{T}.name=swa", f"{T}.start=20"],
         rf"{T}.start=20 must be < transformer.train.max_iters=20 \(the average would hold no step\)",
         r"lower it, or raise .*max_iters"),
    case("average-warmup-without-ema", "average", "transformer", [f"{T}.warmup=true"],
         rf"{T}.warmup=True is read with {T}.name=ema only, and {T}.name='none': {NOT_READ}",
         rf"set {T}.name=ema, or leave it at its default \(False\)"),
    case("average-decay-with-swa", "average", "transformer", [f"{T}.name=swa", f"{T}.decay=0.99"],
         rf"{T}.decay=0.99 is read with {T}.name=ema only, and {T}.name='swa': {NOT_READ}",
         rf"set {T}.name=ema, or leave it at its default \(0.999\)"),
    case("average-check-stage", "average", "check", ["pipeline=[transformer]", EMA, f"{T}.decay=2"],
         rf"{T}.decay=2.0 must be in \(0, 1\)", r"must be in \(0, 1\)", fast=True),
    case("average-renamed-ema", "average", "transformer", ["transformer.train.ema=0.999"],
         r"transformer.train.ema is now transformer.train.average.decay \(with transformer.train.average.name=ema; "
         r"a feature's settings sit in a block of their own, under their owner\)", r"rename it in your config"),
    case("average-renamed-swa", "average", "check", ["transformer.train.swa=true"],
         r"transformer.train.swa is now transformer.train.average.name=swa", r"rename it in your config"),
    # a run that averages from step 0 cannot continue a checkpoint of 20 steps that averaged nothing
    case("average-resume-without-an-average", "average", "mlp",
         [f"resume={GOOD}", "mlp.train.max_iters=40", "mlp.train.average.name=ema", "mlp.train.average.decay=0.9"],
         r"cannot resume from .*good/model.safetensors: it is at step 20 and holds no average of its weights, and "
         r"this run averages them from mlp.train.average.start=0",
         r"set mlp.train.average.start >= 20, or start a new run"),
]  # fmt: skip
