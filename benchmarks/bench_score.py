"""Exact scoring's speed against training's, for the same model: scored tokens/s of `inference.scoring.score_tokens`
(what `evaluate`, the end of every run and the frontier's points run) over the training tokens/s of its step.

Each workload is a model of a preset with its training step (bench_train.py's, the same optimizer); scoring reads
the first --tokens of Tiny Shakespeare's val split in the model's windows (a stream: half-overlapping windows, so
every scored token after the first window goes through the model about twice: `forward_tokens`), in rows of
`score_rows`'s choice (and of 32, the batch it had before, as `score_b32`). Training steps and scoring calls take
turns in rounds (interleaved, as bench_train.py's contenders), so the machine's drift falls on both alike. Prints
one JSON line for the machine, then one per workload: tokens/s of each, score / train and its spread over rounds,
and the MFU of each (training: Counts.flops_per_token per trained token; scoring: a third of it per token through
the model), over the float32 GEMM peak measured at the start (or --peak-json FILE, bench_peak.py's).

    python benchmarks/bench_score.py --threads 2 [--workloads gpt_shakespeare_30min gru_shakespeare_30min]
        [--tokens 30000] [--rounds 5] [--peak-json peak_t2.jsonl]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    add_peak_option,
    batches,
    corpus_ids,
    interleaved,
    machine_info,
    peak_flops,
    ratio_spread,
    set_threads,
)

TRAIN_CHARS = 1_003_854  # Tiny Shakespeare's train split; val follows it
# experiment=shakespeare_30min's GRU: 2 x 256, 128-d embeddings, dropout 0.1, AdamW (lr 2e-3), batches of 12 x 64
GRU_30MIN = dict(
    kind="rnn", cell="gru", vocab=65, E=128, hidden=256, B=12, T=64, model=dict(n_layer=2, dropout=0.1),
    optim=dict(name="adamw", lr=2e-3, weight_decay=0.1),
)  # fmt: skip
WORKLOADS = {
    # experiment=shakespeare_30min's GPT and its Muon step (bench_train's gpt_shakespeare_conv); `steps` per call
    "gpt_shakespeare_30min": ("gpt_shakespeare_conv", 8),
    "gru_shakespeare_30min": (GRU_30MIN, 24),
}


def workload(name: str) -> tuple[dict, int]:
    """(bench_train's workload dict, training steps per timed call)."""
    import bench_train as bt

    w, steps = WORKLOADS[name]
    return (bt.WORKLOADS[w] if isinstance(w, str) else w), steps


def build(name: str, n_tokens: int, package: str = "lmladder") -> dict:
    """{"train": `steps` training steps, "score": score_tokens over the val slice, "score_b32": the same in rows of
    32} of `package` (bench_ab.py passes another checkout's copy), and what the row needs to report on them."""
    import importlib

    import bench_train as bt

    w, steps = workload(name)
    ids = corpus_ids("shakespeare", TRAIN_CHARS + n_tokens, w["vocab"])
    model, step = bt.build_ours(w, batches(ids[:TRAIN_CHARS], w["B"], w["T"], 8), package)
    val = ids[TRAIN_CHARS:]
    score_tokens = importlib.import_module(f"{package}.inference.scoring").score_tokens

    def train():
        for _ in range(steps):
            step()

    def score(rows=None):
        return lambda: score_tokens(model, val, boundary_id=None, **({"batch_size": rows} if rows else {}))

    return dict(fns={"train": train, "score": score(), "score_b32": score(32)}, model=model, val=val, w=w, steps=steps)


def forward_tokens(model, val) -> int:
    """Tokens the scoring's rows feed the model (every window's width): about twice the scored ones for a stream."""
    from lmladder.data.batching import eval_plan

    return int(eval_plan(val, kind="stream", boundary_id=None, seq_len=model.window())[1].sum())


def run(name: str, n_tokens: int, rounds: int, peak: float) -> dict:
    from lmladder.inference.scoring import score_rows

    b = build(name, n_tokens)
    med, per_round = interleaved(b["fns"], warmup=1, repeats=rounds)
    model, w = b["model"], b["w"]
    scored, fed = len(b["val"]) - 1, forward_tokens(model, b["val"])
    train_tok = w["B"] * w["T"] * b["steps"]
    fpt = model.config.counts().flops_per_token
    row = {"benchmark": "score", "workload": name, "params": model.num_parameters(), "flops_per_token": fpt}
    row |= {"scored_tokens": scored, "forward_tokens": fed, "rows": score_rows(model, model.window()), "rounds": rounds}
    row["train_tok_s"] = round(train_tok / med["train"])
    for k in ("score", "score_b32"):
        row[f"{k}_tok_s"] = round(scored / med[k])
        row[f"{k}_over_train"] = round(med["train"] / train_tok * scored / med[k], 3)
        row[f"{k}_over_train_rounds"] = [round(r * scored / train_tok, 3) for r in ratio_spread(per_round, "train", k)]
        row[f"{k}_mfu"] = round(fpt / 3 * fed / med[k] / peak, 4)
    row["train_mfu"] = round(fpt * train_tok / med["train"] / peak, 4)
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, choices=(1, 2), default=None)
    ap.add_argument("--workloads", nargs="*", default=list(WORKLOADS), choices=list(WORKLOADS))
    ap.add_argument("--tokens", type=int, default=30_000, help="val tokens each scoring call reads")
    ap.add_argument("--rounds", type=int, default=5)
    add_peak_option(ap)
    args = ap.parse_args()
    set_threads(args.threads)  # before NumPy loads BLAS
    import numpy as np

    import bench_train as bt

    bt.np = np
    peak = peak_flops(args.peak_json, args.threads)
    machine = {"benchmark": "machine", **machine_info(args.threads), "matmul_peak_gflops": round(peak / 1e9, 1)}
    print(json.dumps(machine), flush=True)
    for name in args.workloads:
        print(json.dumps(run(name, args.tokens, args.rounds, peak)), flush=True)


if __name__ == "__main__":
    main()
