"""A/B speed of two lmladder checkouts in one process, interleaved: is a change faster, and by how much?

On a shared VM the machine's speed drifts by tens of percent over minutes, so two benchmark runs minutes apart
cannot show a 3% change. Here both versions run the same workload (bench_train.py's training step,
bench_generate.py's batch-1 sampling: the `generate_*` workloads, or bench_score.py's exact scoring of 20,000 val
tokens with each version's own rows: the `score_*` workloads) in the same process,
taking turns in rounds; the ratio of their medians, and its spread over rounds, is what drift cannot fake.

    python benchmarks/bench_ab.py --base 8fe5894 --threads 2 --workloads gpt_nanogpt_cpu gpt_10m generate_kv_cache

--base/--new name a git revision (its src/lmladder is exported with `git archive`) or a folder holding a
`lmladder` package; --new defaults to this working tree. Each copy is imported under its own name (lm_base,
lm_new), so the two never share modules, array pools or op registries. Prints one JSON line per workload;
`base_over_new` > 1 means the new code is faster.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _common import batches, corpus_ids, interleaved, machine_info, ratio_spread, set_threads  # noqa: E402

ROOT = HERE.parent


def stage(spec: str, name: str, into: Path) -> Path:
    """Copy the lmladder package of `spec` (a folder with lmladder/, or a git revision) to into/name."""
    dst = into / name
    folder = Path(spec)
    if (folder / "lmladder").is_dir():
        shutil.copytree(folder / "lmladder", dst)
        return dst
    tmp = into / f"{name}_export"
    tmp.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", spec, "src/lmladder"], capture_output=True, check=False
    )
    if archive.returncode:
        sys.exit(f"bench_ab: {spec!r} is neither a folder holding lmladder/ nor a git revision of {ROOT}")
    subprocess.run(["tar", "-x", "-C", str(tmp)], input=archive.stdout, check=True)
    shutil.move(tmp / "src" / "lmladder", dst)
    return dst


# batch-1 sampling with the nanogpt_cpu GPT through inference.sampling.generate (bench_generate.py's calls): new
# tokens per call; 200 cached tokens cross block_size (64) so the cache is rebuilt (a 48-token prefill) every 16.
# A call takes ~0.2 s, so the contenders alternate call by call (block 1): the VM's drift within a round is smaller
GENERATE = {
    "generate_kv_cache": dict(use_cache=True, tokens=200, warmup=2, repeats=40, block=1),
    "generate_no_cache": dict(use_cache=False, tokens=100, warmup=2, repeats=40, block=1),
}


# exact scoring (bench_score.py's workloads, each version's score_tokens with its own default rows); ~1-3 s a call
SCORE = {
    f"score_{name}": dict(workload=name, warmup=1, repeats=6, block=1)
    for name in ("gpt_shakespeare_30min", "gru_shakespeare_30min")
}


def build(wl: str, package: str):
    """(step or call to time, its workload's timing plan) of `package`'s copy."""
    import bench_generate as bg
    import bench_score as bs
    import bench_train as bt

    if wl in SCORE:
        return bs.build(SCORE[wl]["workload"], 20_000, package)["fns"]["score"], SCORE[wl]
    if wl in GENERATE:
        w = GENERATE[wl]
        return bg.build_generate(w["tokens"], w["use_cache"], package), w
    w = bt.WORKLOADS[wl]
    data = batches(corpus_ids("shakespeare" if w["kind"] == "gpt" else "names", 200_000, w["vocab"]),
                   w["B"], w["T"], count=8)  # fmt: skip
    return bt.build_ours(w, data, package)[1], w


def main() -> None:
    import bench_train as bt

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", required=True, help="git revision or folder holding lmladder/")
    ap.add_argument("--new", default=str(ROOT / "src"), help="git revision or folder (default: this checkout)")
    ap.add_argument("--threads", type=int, choices=(1, 2), default=None)
    ap.add_argument("--workloads", nargs="*", default=["gpt_nanogpt_cpu"], choices=[*bt.WORKLOADS, *GENERATE, *SCORE])
    ap.add_argument("--scale", type=float, default=1.0, help="multiply the number of timed steps")
    args = ap.parse_args()
    set_threads(args.threads)
    import numpy as np

    bt.np = np
    with tempfile.TemporaryDirectory() as tmp:
        for spec, name in ((args.base, "lm_base"), (args.new, "lm_new")):
            stage(spec, name, Path(tmp))
        sys.path.insert(0, tmp)
        print(json.dumps({"benchmark": "machine", **machine_info(args.threads), "base": args.base, "new": args.new}))
        for wl in args.workloads:
            built = {name: build(wl, name) for name in ("lm_base", "lm_new")}
            fns, w = {name: fn for name, (fn, _) in built.items()}, built["lm_new"][1]
            med, rounds = interleaved(fns, w["warmup"], max(3, int(w["repeats"] * args.scale)), block=w["block"])
            row = {"benchmark": "ab", "workload": wl, "base_ms": round(med["lm_base"] * 1e3, 3)}
            row["new_ms"] = round(med["lm_new"] * 1e3, 3)
            row["base_over_new"] = round(med["lm_base"] / med["lm_new"], 3)
            row["base_over_new_rounds"] = ratio_spread(rounds, "lm_base", "lm_new")  # [min, median, max]
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
