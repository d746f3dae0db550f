"""Turn the JSON lines of bench_train.py / bench_generate.py / bench_score.py (and bench_ab.py) runs into the
Markdown tables of benchmarks/README.md.

    python benchmarks/table.py train_t1_*.jsonl gen_t1_*.jsonl train_t2_*.jsonl gen_t2_*.jsonl [--ab ab_*.jsonl]
    python benchmarks/table.py score_t2_*.jsonl        # bench_score.py: scoring against training, its own table

Several runs of the same workload and thread count become one row: the median over runs, and for the ratios
"median [min-max]" over runs. `--ab` files (bench_ab.py against an older checkout) add a "vs base" column: how
many times faster this checkout trains than the base, measured interleaved in one process. For generation the
torch column is nanoGPT's sampler, which has no KV cache. MFU: the model's own FLOPs per token x tokens/s over the
run's float32 GEMM peak (training: Counts.flops_per_token; generation and scoring: a third of it, the forward).
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections import defaultdict


def _rows(paths):
    for path in paths:
        threads = None
        with open(path) as f:
            for line in f:
                if not line.startswith("{"):
                    continue
                r = json.loads(line)
                if r["benchmark"] == "machine":
                    threads = r["threads"]
                elif r["benchmark"] in ("train", "generate", "ab", "score"):
                    yield threads, r


def _name(r) -> str:
    if r["benchmark"] in ("train", "ab", "score"):
        return r["workload"]
    return f"generate, {r['variant'].replace('ours_', '')}"


def _med(values, digits=None):
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    m = statistics.median(values)
    return round(m, digits) if digits is not None else round(m)


def _spread(values) -> str:
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    m = f"{statistics.median(values):.2f}"
    return m if len(values) == 1 else f"{m} [{min(values):.2f}-{max(values):.2f}]"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("files", nargs="+")
    ap.add_argument("--ab", nargs="*", default=[], help="bench_ab.py outputs: a 'vs base' column")
    args = ap.parse_args()
    groups: dict[tuple, list[dict]] = defaultdict(list)  # (name, threads) -> one row per run, in file order
    for t, r in _rows(args.files):
        groups[_name(r), t].append(r)
    ab = defaultdict(list)
    for t, r in _rows(args.ab):
        ab[_name(r), t].append(r["base_over_new"])
    scores = {k: groups.pop(k) for k in [k for k, rs in groups.items() if rs[0]["benchmark"] == "score"]}
    if not groups:
        return score_table(scores)
    torch_gen = {t: [r["tokens_per_s"] for r in rs] for (n, t), rs in groups.items() if n.endswith("sdpa_no_cache")}
    cols = ["workload", "threads", "runs", "ours tok/s", "torch plain", "torch fused", "ours/plain", "ours/fused"]
    print("| " + " | ".join([*cols, "MFU", "vs base"]) + " |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for (name, t), rs in groups.items():
        base = _spread(ab.get((name, t), []))
        if rs[0]["benchmark"] == "train":
            cells = [_med(r["ours_tok_s"] for r in rs), _med(r.get("torch_plain_tok_s") for r in rs)]
            cells += [_med(r.get("torch_fused_tok_s") for r in rs)]
            cells += [_spread([r.get("ratio_vs_torch_plain") for r in rs])]
            cells += [_spread([r.get("ratio_vs_torch_fused") for r in rs]), _med((r.get("ours_mfu") for r in rs), 3)]
        elif "torch" in name:
            continue
        else:
            tg = torch_gen.get(t, [])
            ours = [r["tokens_per_s"] for r in rs]
            ratios = [o / g for o, g in zip(ours, tg, strict=False)]
            cells = [_med(ours), f"{_med(tg)} (no cache)" if tg else "-", "-", _spread(ratios), "-"]
            cells += [_med((r.get("mfu") for r in rs), 4)]
        print(f"| {name} | {t} | {len(rs)} | " + " | ".join(str(c) for c in cells) + f" | {base} |")
    if scores:
        print()
        score_table(scores)


def score_table(groups: dict) -> None:
    """bench_score.py's rows: scoring's tokens/s against training's, for the same model."""
    cols = ["workload", "threads", "runs", "rows", "train tok/s", "score tok/s", "score / train", "at 32 rows"]
    cols += ["train MFU", "score MFU"]
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for (name, t), rs in groups.items():
        cells = [rs[0]["rows"], _med(r["train_tok_s"] for r in rs), _med(r["score_tok_s"] for r in rs)]
        cells += [_spread([r["score_over_train"] for r in rs]), _spread([r["score_b32_over_train"] for r in rs])]
        cells += [_med((r["train_mfu"] for r in rs), 3), _med((r["score_mfu"] for r in rs), 3)]
        print(f"| {name} | {t} | {len(rs)} | " + " | ".join(str(c) for c in cells) + " |")


if __name__ == "__main__":
    main()
