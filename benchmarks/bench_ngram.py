"""The count rung's fitting and scoring speed, and its fit's peak memory: orders 2..10 on Tiny Shakespeare (nanoGPT
split: first 90% train, the rest val), add-k and Kneser-Ney, plus a trigram over a 4,096-token vocabulary (a
synthetic Zipf-like stream, until BPE lands). One JSON line per workload; times are the median of --repeats.

    python benchmarks/bench_ngram.py [--orders 2 3 4 5 6 7 8 9 10] [--repeats 3] [--no-zipf] > ngram.jsonl

fit tokens/s = training tokens / fit time (counting and the scoring tables); score tokens/s = val tokens scored /
time of the shared exact scorer (inference.scoring.score_tokens: windows of 256, batch 32; batch 4 at V=4096, where
a batch's (B, T, V) float64 log-probs would otherwise be 270 MB). peak_mb: tracemalloc's peak during one more fit
(NumPy reports its buffers to it); max_rss_mb: the process's peak resident memory so far.
"""

from __future__ import annotations

import argparse
import json
import resource
import tracemalloc

from _common import SHARED, machine_info, median_time, set_threads


def shakespeare():
    import numpy as np

    raw = np.frombuffer((SHARED / "tinyshakespeare.txt").read_bytes(), dtype=np.uint8)
    _, ids = np.unique(raw, return_inverse=True)  # the char tokenizer's sorted vocabulary: 65 ids
    n = int(0.9 * len(ids))
    return ids[:n], ids[n:], 65


def zipf_stream(V: int = 4096, n_train: int = 1_000_000, n_val: int = 100_000, seed: int = 0):
    """Tokens whose frequencies fall as 1/rank, each drawn near its predecessor's rank (so contexts repeat)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    p = 1.0 / np.arange(1, V + 1)
    base = rng.choice(V, size=n_train + n_val, p=p / p.sum())
    shift = np.concatenate([[0], base[:-1] % 7])  # a little dependence on the previous token
    ids = (base + shift) % V
    return ids[:n_train], ids[n_train:], V


def workload(name, train, val, V, order, smoothing, repeats, batch_size=32) -> dict:
    from lmladder.inference.scoring import score_tokens
    from lmladder.models.bigram import NGram, NGramConfig

    config = NGramConfig(order=order, smoothing=smoothing, vocab_size=V, pad_id=0)
    fit_s, model = median_time(lambda: NGram(config).fit(train), repeats)
    score_s, score = median_time(lambda: score_tokens(model, val, boundary_id=None, batch_size=batch_size), repeats)
    tracemalloc.start()
    NGram(config).fit(train)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {
        "workload": name,
        "order": order,
        "smoothing": smoothing,
        "vocab_size": V,
        "train_tokens": len(train),
        "ngrams": len(model.keys),
        "fit_s": round(fit_s, 3),
        "fit_tokens_per_s": round(len(train) / fit_s),
        "score_s": round(score_s, 3),
        "score_tokens_per_s": round(score["tokens"] / score_s),
        "val_nll": round(score["nll"], 4),
        "peak_mb": round(peak / 2**20, 1),
        "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "repeats": repeats,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--orders", type=int, nargs="+", default=list(range(2, 11)))
    ap.add_argument("--smoothings", nargs="+", default=["add_k", "kneser_ney"])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--no-zipf", action="store_true", help="skip the V=4096 trigram")
    args = ap.parse_args()
    set_threads(args.threads)
    print(json.dumps(machine_info(args.threads)), flush=True)
    train, val, V = shakespeare()
    for order in args.orders:
        for smoothing in args.smoothings:
            print(json.dumps(workload("shakespeare", train, val, V, order, smoothing, args.repeats)), flush=True)
    if not args.no_zipf:
        train, val, V = zipf_stream()
        for smoothing in args.smoothings:
            row = workload("zipf_v4096", train, val, V, 3, smoothing, args.repeats, batch_size=4)
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
