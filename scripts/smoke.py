"""A smoke run of the whole ladder on one platform: prepare a corpus, train every rung a few steps (fit the count
models), sample, and score the val and test splits exactly; the numbers go to a JSON file, and `--compare` checks two
such files (two platforms, or two GEMM paths) against each other within float32 round-off.

    python scripts/smoke.py --corpus names.txt --out x86.json     # here
    python scripts/smoke.py --compare x86.json arm64.json         # against another platform's (scripts/arm64_smoke.sh)

Speed is not measured: a few tiny steps of each rung, on one thread, so that an emulated CPU gets through them.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import tempfile
from dataclasses import fields, replace
from pathlib import Path

import numpy as np

from lmladder import fast
from lmladder.data import load_prepared, prepare_corpus
from lmladder.models import ladder, rung_class
from lmladder.training import (
    CheckpointSettings,
    EvalSettings,
    OptimSettings,
    Run,
    SampleSettings,
    TrainSettings,
    run_rung,
)

SIZES = dict(n_embd=16, n_hidden=16, n_layer=1, n_layers=1, n_head=2, block_size=16, context=8, order=3)
RTOL = 1e-4  # relative: a few steps of float32 training, summed in another order by another CPU's BLAS


def config(rung: str, vocab_size: int, **more):
    cls = rung_class(rung)
    names = {f.name for f in fields(cls.Config)}
    return replace(cls.Config(), **{k: v for k, v in {**SIZES, **more}.items() if k in names}, vocab_size=vocab_size)


def settings(rung: str, steps: int) -> TrainSettings:
    targets = "last" if rung == "wavenet" else "all"  # BatchNorm's batches: one window per name (conf/wavenet/)
    return TrainSettings(max_iters=steps, batch_size=8, seq_len=16, targets=targets,
                         eval=EvalSettings(interval=steps, iters=1, batch_size=16),
                         checkpoint=CheckpointSettings(interval=steps), progress=False)  # fmt: skip


def smoke(corpus: Path, steps: int) -> dict:
    """{platform facts, rung: {val_nll, test_nll, samples}} for every rung of the ladder, bottom to top."""
    out: dict = {"machine": platform.machine(), "python": platform.python_version(), "numpy": np.__version__}
    out["gemm"] = fast.gemm()
    said: list[str] = []  # the trainers' log lines
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        text = corpus.read_text(encoding="utf-8").splitlines()[:2000]
        prepare_corpus("\n".join(text) + "\n", kind="lines", tokenizer="char", out_dir=root / "prepared")
        data = load_prepared(root / "prepared")
        for rung in ladder():
            more = {"neural": str(root / "transformer" / "model.safetensors")} if rung == "mixture" else {}
            cfg, sample = config(rung, data.vocab_size, **more), SampleSettings(num_samples=3, sample_tokens=20)
            m = run_rung(Run(rung_class(rung), cfg, data, sample=sample, optim=OptimSettings(lr=1e-2),
                             train=settings(rung, steps), seed=0, out_dir=root / rung, meta={},
                             log=said.append))  # fmt: skip
            samples = (root / rung / "samples.txt").read_text(encoding="utf-8").splitlines()
            out[rung] = {"val_nll": m["val"]["nll"], "test_nll": m["test"]["nll"], "samples": samples}
            print(f"{rung:12s} val NLL {m['val']['nll']:.6f}  test NLL {m['test']['nll']:.6f}  {samples[0]!r}")
    out["kernels_line"] = next((line for line in said if line.startswith("kernels: ")), None)  # the first trainer's
    return out


def compare(a: dict, b: dict) -> list[str]:
    """The differences beyond float32 round-off between two smoke runs' numbers, one line each ([] when none);
    samples are told apart (a draw near a boundary may fall the other way) but do not fail."""
    bad = []
    for rung in [r for r in a if isinstance(a[r], dict)]:
        for key in ("val_nll", "test_nll"):
            x, y = a[rung][key], b.get(rung, {}).get(key, math.nan)
            ok = math.isclose(x, y, rel_tol=RTOL)
            print(
                f"{rung:12s} {key:8s} {x:.6f} {y:.6f}  rel diff {abs(x - y) / abs(x):.1e}  {'ok' if ok else 'DIFFERS'}"
            )
            if not ok:
                bad.append(f"{rung} {key}: {x} vs {y}")
        same = a[rung]["samples"] == b.get(rung, {}).get("samples")
        print(f"{rung:12s} samples  {'the same' if same else 'differ (not a failure)'}")
    return bad


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--corpus", type=Path, help="a text file, a document per line (e.g. names.txt)")
    p.add_argument("--out", type=Path, help="where to write the numbers (JSON)")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--compare", nargs=2, type=Path, metavar=("A", "B"), help="two smoke runs' JSON files")
    args = p.parse_args(argv)
    if args.compare:
        a, b = (json.loads(f.read_text(encoding="utf-8")) for f in args.compare)
        for name, run in (("A", a), ("B", b)):
            print(f"{name}: {run['machine']}, Python {run['python']}, NumPy {run['numpy']}; {run['kernels_line']}")
        bad = compare(a, b)
        print("the same numbers within float32 round-off" if not bad else "DIFFERENT: " + "; ".join(bad))
        return 1 if bad else 0
    if not (args.corpus and args.out):
        p.error("give --corpus and --out (or --compare A B)")
    result = smoke(args.corpus, args.steps)
    args.out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
