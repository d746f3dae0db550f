"""Turn the JSON lines of bench_train.py / bench_generate.py runs into the Markdown table of benchmarks/README.md.

    python benchmarks/table.py train_t1.jsonl gen_t1.jsonl train_t2.jsonl gen_t2.jsonl [--before base_*.jsonl]

`--before` files (ours from an older checkout, run with --no-torch) add a "before" column. For generation the
torch column is nanoGPT's sampler, which has no KV cache.
"""

from __future__ import annotations

import argparse
import json


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
                elif r["benchmark"] in ("train", "generate"):
                    yield threads, r


def _name(r) -> str:
    return r["workload"] if r["benchmark"] == "train" else f"generate, {r['variant'].replace('ours_', '')}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("files", nargs="+")
    ap.add_argument("--before", nargs="*", default=[])
    args = ap.parse_args()
    before = {(_name(r), t): r.get("ours_tok_s") or r.get("tokens_per_s") for t, r in _rows(args.before)}
    print("| workload | threads | ours before | ours | torch plain | torch fused | ours/plain | ours/fused | MFU |")
    print("|---|---|---|---|---|---|---|---|---|")
    torch_gen = {t: r["tokens_per_s"] for t, r in _rows(args.files) if r.get("variant", "").startswith("torch")}
    for t, r in _rows(args.files):
        b = before.get((_name(r), t), "-")
        if r["benchmark"] == "train":
            cells = [r["ours_tok_s"], r.get("torch_plain_tok_s", "-"), r.get("torch_fused_tok_s", "-")]
            cells += [r.get("ratio_vs_torch_plain", "-"), r.get("ratio_vs_torch_fused", "-"), r.get("ours_mfu", "-")]
        elif r["variant"].startswith("torch"):
            continue
        else:
            tg = torch_gen.get(t, "-")
            ratio = round(r["tokens_per_s"] / tg, 2) if tg != "-" else "-"
            cells = [r["tokens_per_s"], f"{tg} (no cache)", "-", ratio, "-", "-"]
        print(f"| {_name(r)} | {t} | {b} | " + " | ".join(str(c) for c in cells) + " |")


if __name__ == "__main__":
    main()
