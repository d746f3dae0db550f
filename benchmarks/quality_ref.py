"""Quality parity: train the nanogpt_cpu GPT in PyTorch (nanoGPT's recipe) on lmladder's own prepared arrays, and
score it and lmladder checkpoints with the same estimator on the same random val windows.

Answers "is 1.91 what this architecture gets on this split, or is our engine worse?". Torch is optional and never a
dependency of lmladder; without it the script only scores the lmladder checkpoints.

    python benchmarks/quality_ref.py --prepared data/cache/shakespeare-<key> --seeds 0 1 2 \
        --ckpt outputs/runs/.../model.safetensors ...  > quality_ref.jsonl

Recipe (nanoGPT's README CPU run): 4L/4H/128, block 64, batch 12, 2000 iters, AdamW lr 1e-3 betas (0.9, 0.99),
wd 0.1 on >= 2-D weights, warmup 100 then cosine to 1e-4 at 2000, clip 1.0, no dropout, no biases, tied head,
N(0, 0.02) init with residual projections at 0.02 / sqrt(2 L). GELU is the tanh form, as lmladder's "gelu".
"""

from __future__ import annotations

import argparse
import json
import math
import time

import numpy as np

from lmladder.data.batching import sample_windows
from lmladder.data.prepared import load_prepared

ITERS, WARMUP, LR, MIN_LR, BATCH, BLOCK = 2000, 100, 1e-3, 1e-4, 12, 64


def nanogpt_lr(it: int) -> float:
    if it < WARMUP:
        return LR * (it + 1) / (WARMUP + 1)
    ratio = (it - WARMUP) / (ITERS - WARMUP)
    return MIN_LR + 0.5 * (1 + math.cos(math.pi * ratio)) * (LR - MIN_LR)


def val_windows(val: np.ndarray, n_batches: int, batch: int) -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(12345)  # the same windows for every model scored
    return [sample_windows(val, batch, BLOCK, rng) for _ in range(n_batches)]


def train_torch(train: np.ndarray, vocab: int, seed: int, threads: int):
    import torch

    from torch_ref import GPT, adamw

    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    model = GPT(vocab, BLOCK, 4, 4, 128)
    with torch.no_grad():  # nanoGPT scales the residual projections' init by depth
        for name, p in model.named_parameters():
            if name.endswith("c_proj.weight"):
                p.normal_(0.0, 0.02 / math.sqrt(2 * 4))
    opt = adamw(model.parameters(), LR, (0.9, 0.99), 0.1, fused=False)
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    for it in range(ITERS):
        for g in opt.param_groups:
            g["lr"] = nanogpt_lr(it)
        x, y = sample_windows(train, BATCH, BLOCK, rng)
        _, loss = model(torch.from_numpy(x), torch.from_numpy(y))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
    return model, time.perf_counter() - t0


def score_torch(model, windows) -> float:
    import torch

    model.eval()
    with torch.no_grad():
        return float(np.mean([model(torch.from_numpy(x), torch.from_numpy(y))[1].item() for x, y in windows]))


def score_ours(path: str, windows) -> float:
    from lmladder.checkpoints import load_training_checkpoint
    from lmladder.training import estimate_loss

    return estimate_loss(load_training_checkpoint(path).model, windows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--prepared", required=True, help="a prepared Tiny Shakespeare folder (data/cache/shakespeare-*)")
    ap.add_argument("--seeds", type=int, nargs="*", default=[0, 1, 2])
    ap.add_argument("--ckpt", nargs="*", default=[], help="lmladder checkpoints to score on the same windows")
    ap.add_argument("--eval-batches", type=int, default=500, help="val batches of 12 windows (nanoGPT uses 20)")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    data = load_prepared(args.prepared)
    train, val = np.asarray(data.splits["train"]), np.asarray(data.splits["val"])
    many = val_windows(val, args.eval_batches, BATCH)
    nanogpt20 = many[:20]  # nanoGPT's own estimator size: 20 batches of 12
    for path in args.ckpt:
        row = {
            "model": "lmladder",
            "ckpt": path,
            "val_est": score_ours(path, many),
            "val_est20": score_ours(path, nanogpt20),
        }
        print(json.dumps(row), flush=True)
    try:
        import torch  # noqa: F401
    except ImportError:
        print(json.dumps({"torch": "not installed; reference skipped"}))
        return
    for seed in args.seeds:
        model, secs = train_torch(train, data.vocab_size, seed, args.threads)
        row = {"model": "torch", "seed": seed, "train_s": round(secs, 1)}
        row |= {"val_est": score_torch(model, many), "val_est20": score_torch(model, nanogpt20)}
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
