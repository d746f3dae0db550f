"""The paired bootstrap's speed (reports/significance.py): 10,000 resamples over Tiny Shakespeare's val split
(111,540 characters, 112 units of 1,000 characters) and over the names val split (3,203 documents), one thread.
The unit scores are real: a bigram and an add-1 bigram counted on the train split, scored by the exact scorer.
One JSON line per workload; the time is the median of --repeats calls of `paired` (both NLL and bits/char).

    python benchmarks/bench_bootstrap.py [--repeats 5] [--threads 1] > bootstrap.jsonl
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

from _common import machine_info, median_time, set_threads

DATA = Path(os.environ.get("LMLADDER_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


def units(path: Path, kind: str, tmp: Path):
    """val units of two bigrams (add-k 0.1 and 1) on the corpus at `path`, pooled as significance.paired takes."""
    from dataclasses import replace

    import numpy as np

    from lmladder.data import load_prepared, load_text, prepare_corpus
    from lmladder.inference.scoring import score_splits_units
    from lmladder.models import for_data, rung_class
    from lmladder.reports import significance as sig

    prepare_corpus(load_text("file", path=path), kind=kind, tokenizer="char", out_dir=tmp / kind)
    data = load_prepared(tmp / kind)
    cls, pooled = rung_class("bigram"), []
    for k in (0.1, 1.0):
        model = cls(for_data(replace(cls.Config(), k=k), data), rng=np.random.default_rng(0))
        model.fit(np.asarray(data.splits["train"]))
        pooled.append(sig.pool([score_splits_units(model, data)[1]["val"]]))
    return pooled


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args()
    set_threads(a.threads)
    from lmladder.reports import significance as sig

    with tempfile.TemporaryDirectory() as tmp:
        for name, kind in (("tinyshakespeare.txt", "stream"), ("names.txt", "lines")):
            ua, ub = units(DATA / name, kind, Path(tmp))
            seconds, res = median_time(lambda ua=ua, ub=ub: sig.paired(ua, ub), a.repeats)
            row = {"corpus": name, "units": len(ua), "resamples": sig.RESAMPLES, "seconds": round(seconds, 4)}
            print(json.dumps(row | {k: round(v, 5) for k, v in res.items()} | machine_info(a.threads)), flush=True)


if __name__ == "__main__":
    main()
