"""Generation throughput of the nanogpt_cpu GPT: batch 1, 500 new tokens, with and without the KV cache.

Uses lmladder.inference.sampling.generate (temperature 1, seeded) on an untrained model (speed does not depend on
the weights). The optional torch references are nanoGPT's own sampler (no KV cache) and the same model decoding
with a KV cache through sdpa (torch_ref.generate_kv). Runs interleave, back to back; each variant's line gives the
median over --repeats runs, the slowest run and slowest / median (a run that falls far behind shows there).
Prints one JSON line for the machine, then one per variant, with its MFU: the model's forward FLOPs per token
(GPTConfig.counts / 3) x tokens/s over the float32 GEMM peak measured at the start (or --peak-json FILE, bench_peak's).

    python benchmarks/bench_generate.py --threads 1 [--tokens 500] [--repeats 10] [--no-torch]
    python benchmarks/bench_generate.py --threads 2 --neighbour spin|same [--rounds 3] [--seconds 3]

--neighbour: each variant's tokens/s idle and beside another busy program, and the ratio (neighbour.py): `spin` is
one spinning process, `same` a second lmladder process generating in a loop.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    add_peak_option,
    build_model,
    interleaved,
    machine_info,
    peak_flops,
    set_threads,
    torch_or_none,
)

CFG = dict(vocab=65, T=64, L=4, H=4, C=128)  # conf/transformer/nanogpt_cpu.yaml


def build_generate(tokens: int, use_cache: bool, package: str = "lmladder"):
    """A call that generates `tokens` new tokens, batch 1, with `package`'s GPT and sampler (bench_ab.py passes
    the copy of another checkout; one from before inference/ existed has its sampler in training/)."""
    import numpy as np

    home = "inference" if importlib.util.find_spec(f"{package}.inference") else "training"
    generate = importlib.import_module(f"{package}.{home}.sampling").generate
    dims = dict(vocab_size=CFG["vocab"], block_size=CFG["T"], n_layer=CFG["L"], n_head=CFG["H"], n_embd=CFG["C"])
    model = build_model(package, "gpt", np.random.default_rng(0), **dims)
    prompt = np.zeros((1, 1), dtype=np.int64)

    def run():
        out = generate(model, prompt, tokens, rng=np.random.default_rng(1), use_cache=use_cache)
        assert out[0].size == tokens

    return run


def forward_flops_per_token() -> float:
    """The GPT's forward FLOPs per generated token: a third of its training count (2 of the 6 FLOPs per multiply-add,
    attention at full context; GPTConfig.counts). Without the KV cache a token costs a whole window's forward; MFU
    still counts one token's, the work the model needs."""
    from lmladder.models.transformer import GPTConfig

    dims = dict(vocab_size=CFG["vocab"], block_size=CFG["T"], n_layer=CFG["L"], n_head=CFG["H"], n_embd=CFG["C"])
    return GPTConfig(**dims).counts().flops_per_token / 3


def run_beside(fns: dict, args) -> None:
    """Tokens/s of each variant idle and beside the neighbour, and the ratio (neighbour.py)."""
    from neighbour import SPIN, Neighbour, beside

    worker = [sys.executable, __file__, "--loop", *(["--threads", str(args.threads)] if args.threads else [])]
    with Neighbour(SPIN if args.neighbour == "spin" else worker, 0 if args.neighbour == "spin" else 8) as n:
        res = beside(fns, n, args.rounds, args.seconds)
    for name, r in res.items():
        row = {"benchmark": "generate_neighbour", "variant": name, "neighbour": args.neighbour, "batch": 1}
        row |= {"idle_tok_s": round(r["idle"] * args.tokens), "busy_tok_s": round(r["busy"] * args.tokens)}
        row |= {"busy_over_idle": r["ratio"], "busy_over_idle_rounds": r["ratio_rounds"], "rounds": args.rounds}
        print(json.dumps(row), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, choices=(1, 2), default=None)
    ap.add_argument("--tokens", type=int, default=500)
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--no-torch", action="store_true")
    ap.add_argument("--neighbour", choices=("spin", "same"), help="time idle and beside this neighbour")
    ap.add_argument("--rounds", type=int, default=3, help="--neighbour: idle/busy rounds")
    ap.add_argument("--seconds", type=float, default=3.0, help="--neighbour: timed seconds per turn")
    ap.add_argument("--loop", action="store_true", help=argparse.SUPPRESS)  # the `same` neighbour's body
    add_peak_option(ap)
    args = ap.parse_args()
    set_threads(args.threads)  # before NumPy loads BLAS
    if args.loop:
        from neighbour import loop

        loop(build_generate(args.tokens, True))
    torch = torch_or_none(args.threads, not args.no_torch)
    fns = {"ours_kv_cache": build_generate(args.tokens, True), "ours_no_cache": build_generate(args.tokens, False)}
    if torch is not None:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        import torch_ref

        torch.manual_seed(0)
        tmodel = torch_ref.GPT(CFG["vocab"], CFG["T"], CFG["L"], CFG["H"], CFG["C"], sdpa=True).eval()
        tprompt = torch.zeros((1, 1), dtype=torch.long)
        fns["torch_sdpa_no_cache"] = lambda: torch_ref.generate(tmodel, tprompt, args.tokens, CFG["T"])
        fns["torch_sdpa_kv_cache"] = lambda: torch_ref.generate_kv(tmodel, tprompt, args.tokens, CFG["T"])
    if args.neighbour:
        print(json.dumps({"benchmark": "machine", **machine_info(args.threads, torch)}), flush=True)
        return run_beside(fns, args)
    peak = peak_flops(args.peak_json, args.threads)
    machine = {"benchmark": "machine", **machine_info(args.threads, torch), "matmul_peak_gflops": round(peak / 1e9, 1)}
    print(json.dumps(machine), flush=True)
    flops = forward_flops_per_token()
    med, rounds = interleaved(fns, warmup=1, repeats=args.repeats)
    for name, s in med.items():
        slowest = max(r[name] for r in rounds)
        row = {"benchmark": "generate", "variant": name, "new_tokens": args.tokens, "batch": 1}
        row.update(seconds=round(s, 4), tokens_per_s=round(args.tokens / s, 1))
        row["ms_per_token"] = round(s / args.tokens * 1e3, 3)
        row.update(flops_per_token=flops, mfu=round(flops * args.tokens / s / peak, 5))
        row.update(slowest_s=round(slowest, 4), slowest_over_median=round(slowest / s, 2), runs=len(rounds))
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
