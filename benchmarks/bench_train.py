"""Training throughput of lmladder's real models and optimizer, optionally against a PyTorch reference.

A step is what lmladder.training.loop does: forward + backward + clip_grad_norm(1.0) + AdamW step (decay_groups,
wd on >=2-D weights) + zero_grad. Contenders run interleaved, step by step, in one process; each number is the
median step time after warm-up. Prints one JSON line for the machine, then one per workload.

A workload's `model` holds GPTConfig options (torch_ref.GPT takes the same names) and its `optim` the optimizer:
ADAMW, or MUON = nn.Muon over nn.muon_groups (torch: torch.optim.Muon for the blocks' matrices + AdamW, plain or
fused, for the rest). A Muon workload adds `ours_adamw` and `torch_fused_adamw`, the same model and step with
AdamW throughout, and reports Muon's overhead per step (`*_muon_overhead_ms`, and the per-round time ratios).
torch.optim.Muon orthogonalises in bfloat16; `ratio_vs_torch_fused_adamw` sets ours (Muon) against torch's step
with no Muon at all, the bound for any faster Muon in torch.

    python benchmarks/bench_train.py --threads 2 [--workloads gpt_nanogpt_cpu mlp_z2h] [--no-torch] [--scale 1]
    python benchmarks/bench_train.py --threads 2 --neighbour spin|same [--rounds 3] [--seconds 3]

--neighbour: each contender's tokens/s idle and beside another busy program, and the ratio (neighbour.py): `spin`
is one spinning process, `same` a second lmladder process training the same workload.

GRU batches: idx (32, 16) windows of the names stream, the same for torch.nn.GRU (batch_first, a learned start
state as ours) as for lmladder's RNN rung.

MLP batches: "32 (context -> next token) examples" is idx (1, 32) from a running stream, so every position is
scored and sees its own real `context` window (the model's sliding windows; only the first context-1 positions
see the padding token). That is 32 rows through the hidden layer, exactly Zero-to-Hero's X (32, 3) batch, whose
windows the torch reference receives. The larger MLP is idx (4, 64) = 256 examples.

Peak memory is tracemalloc's peak over one extra (untimed) step of ours, with lmladder's array pool emptied
first: the step's NumPy + Python allocations on top of parameters and optimizer state (the pool keeps that
working set allocated between steps). `maxrss_mb` is the whole process (both frameworks, all workloads).

MFU (`*_mfu`): the model's own training FLOPs per token (`config.counts().flops_per_token`, what the frontier's
budgets count: 6 per multiply-add of its matrices, attention's causal half) x tokens/s over the float32 GEMM peak
measured at the start (bench_peak.py's, or read from its output with --peak-json FILE).
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    add_peak_option,
    batches,
    build_model,
    corpus_ids,
    interleaved,
    machine_info,
    peak_flops,
    ratio_spread,
    set_threads,
    torch_or_none,
)

ADAMW = dict(name="adamw", lr=1e-3, weight_decay=0.1)
# conf/transformer/modern.yaml (experiment=shakespeare_30min): its model's GPTConfig options and its optimizer
# (lr is AdamW's, for embeddings, head and gains); edit these two dicts to follow the preset
MODERN = dict(
    dropout=0.1, tie_weights=False, pos="rope", qk_norm=True, activation="relu2", zero_init_proj=True, value_embeds=True
)
# conf/experiment/names_10min.yaml: its model options and AdamW settings
NAMES = dict(dropout=0.2, pos="rope", activation="relu2")
NAMES_OPT = dict(ADAMW, lr=2e-3)
# params.yaml's transformer (the pipeline's): its model option beyond the sizes, and its AdamW
PIPE, PIPE_OPT = dict(dropout=0.1), dict(ADAMW, lr=2e-3)
MUON = dict(name="muon", lr=3e-3, weight_decay=0.0, muon_lr=0.03, momentum=0.95, nesterov=True, ns_steps=5)
# Muon as modded-nanogpt and nanochat run it (q, k, v orthogonalised one by one; the Polar Express coefficients), as
# experiment=shakespeare_30min does now (torch.optim.Muon has neither, so its side stays the fused matrix);
# gpt_shakespeare_modern keeps the preset's step before them, the one earlier bench_ab figures measured
MUON_FIELD = dict(MUON, split_blocks=True, ns_coeffs="polar_express")
CONV_AC = dict(MODERN, lookback=dict(conv=dict(kernel=4)))  # experiment=shakespeare_30min's model
CANON_ABC, VALUE_RESIDUAL = dict(conv=dict(kernel=4, at="abc")), dict(value_residual=True)
# the 6-layer GPT of experiment=shakespeare_30min on its batches of 32 x 64
SHAKESPEARE_30MIN = dict(kind="gpt", vocab=65, L=6, H=4, C=128, B=32, T=64, warmup=3, repeats=40, block=4, model=MODERN)

WORKLOADS = {
    # nanoGPT's baby GPT on Tiny Shakespeare (conf/transformer/nanogpt_cpu.yaml)
    "gpt_nanogpt_cpu": dict(kind="gpt", vocab=65, L=4, H=4, C=128, B=12, T=64, warmup=5, repeats=60, block=6),
    "gpt_10m": dict(kind="gpt", vocab=65, L=6, H=6, C=384, B=64, T=256, warmup=1, repeats=3, block=1),
    # the modern GPT (rotary, QK-norm, ReLU^2, zero projections, untied head, value embeddings) by Muon + AdamW
    "gpt_shakespeare_modern": dict(SHAKESPEARE_30MIN, optim=MUON),
    "gpt_shakespeare_muon_field": dict(SHAKESPEARE_30MIN, optim=MUON_FIELD),
    # the same with train.teacher.order=5 teacher.weight=0.1: the n-gram teacher's lookup and soft loss, set against
    # the plain step (`ours_plain`) in the same rounds; its 5-gram counts from the whole of Tiny Shakespeare's train
    "gpt_shakespeare_teacher": dict(SHAKESPEARE_30MIN, optim=MUON_FIELD, teacher=(5, 0.1)),
    # the same with model.lookback.conv.kernel=4 (a causal convolution before each block's attention and MLP) against
    # the plain step: the model options under `extra` are what `ours_plain` leaves out
    "gpt_shakespeare_conv": dict(SHAKESPEARE_30MIN, optim=MUON_FIELD, extra=dict(lookback=dict(conv=dict(kernel=4)))),
    # the preset's convolution (at a and c) against the same with Canon-B too (at="abc": on q, k and v) and against
    # the value residual on top: their cost per step, which sets the steps of an equal-time comparison
    "gpt_shakespeare_canon_abc": dict(
        SHAKESPEARE_30MIN, optim=MUON_FIELD, model=CONV_AC, extra=dict(lookback=CANON_ABC)
    ),
    "gpt_shakespeare_value_residual": dict(SHAKESPEARE_30MIN, optim=MUON_FIELD, model=CONV_AC, extra=VALUE_RESIDUAL),
    # the preset's GPT on BPE-512 tokens (data.tokenizer=bpe data.bpe.vocab_size=512): its head and value embeddings
    # over 512 symbols against the preset's 65 (the batches' ids stay below 65: the cost does not depend on them)
    "gpt_shakespeare_bpe512": dict(SHAKESPEARE_30MIN, optim=MUON_FIELD, model=CONV_AC, extra=dict(vocab_size=512)),
    # experiment=names_10min: makemore's GPT 96 wide with rotary positions and ReLU^2, AdamW (lr 2e-3), 32 names of 16
    "gpt_names_10min": dict(
        kind="gpt", vocab=27, L=4, H=4, C=96, B=32, T=16, warmup=20, repeats=400, block=40, model=NAMES, optim=NAMES_OPT
    ),  # fmt: skip
    # `dvc repro`'s transformer stage (params.yaml): a 4-layer GPT 64 wide on 32 names of 16, dropout 0.1, AdamW
    "gpt_pipeline": dict(
        kind="gpt", vocab=27, L=4, H=4, C=64, B=32, T=16, warmup=20, repeats=400, block=40, model=PIPE, optim=PIPE_OPT
    ),  # fmt: skip
    # `dvc repro`'s mlp stage: Zero-to-Hero's MLP on 32 names a step, padded to 11 (the batches' typical longest)
    "mlp_pipeline": dict(
        kind="mlp", vocab=27, context=3, E=10, hidden=200, B=32, T=11, warmup=50, repeats=1000, block=100
    ),
    # Zero-to-Hero part 2 on names.txt, and a wider/longer-context MLP
    "mlp_z2h": dict(kind="mlp", vocab=27, context=3, E=10, hidden=200, B=1, T=32, warmup=50, repeats=1000, block=100),
    "mlp_large": dict(kind="mlp", vocab=27, context=8, E=24, hidden=512, B=4, T=64, warmup=20, repeats=200, block=20),
    # makemore-like GRU on names: embedding + one GRU layer + linear head, trained by BPTT over 16 steps
    "gru_names": dict(kind="rnn", cell="gru", vocab=27, E=64, hidden=128, B=32, T=16, warmup=10, repeats=200, block=20),
}
BETAS, CLIP = (0.9, 0.99), 1.0
TRAIN_CHARS = 1_003_854  # Tiny Shakespeare's train split (nanoGPT's first 90%)


def ours_step(model, params, opt, data, nn, teacher=None):
    state = {"i": 0}
    one = np.asarray(1.0, dtype=np.float32)

    def step():
        x, y = data[state["i"] % len(data)]
        state["i"] += 1
        logits, loss = model(x, y)
        if teacher is not None:  # training/loop.py's _gradients with a teacher
            loss = teacher.loss(logits, x, y, loss)
        loss.backward(one)
        nn.clip_grad_norm(params, CLIP)
        opt.step()
        opt.zero_grad()
        return float(loss.data)

    return step


def build_ours(w: dict, data, package: str = "lmladder", optim: dict | None = None, plain: bool = False):
    """(model, step) of `package` (lmladder, or a copy of another checkout imported under its own name); optim
    replaces the workload's optimizer (ADAMW unless it names one); plain=True leaves out the workload's n-gram
    teacher and its `extra` model options."""
    nn = importlib.import_module(f"{package}.nn")
    rng = np.random.default_rng(0)
    if w["kind"] == "gpt":
        dims = dict(vocab_size=w["vocab"], block_size=w["T"], n_layer=w["L"], n_head=w["H"], n_embd=w["C"])
        dims.update(w.get("model", {}), **({} if plain else w.get("extra", {})))
    elif w["kind"] == "rnn":
        dims = dict(vocab_size=w["vocab"], cell=w["cell"], n_embd=w["E"], n_hidden=w["hidden"], **w.get("model", {}))
    else:
        dims = dict(vocab_size=w["vocab"], context=w["context"], n_embd=w["E"], n_hidden=w["hidden"])
    model = build_model(package, w["kind"], rng, **dims)
    opt = build_optimizer(nn, model, optim or w.get("optim", ADAMW))
    coach = None
    if not plain and "teacher" in w:
        ngram = importlib.import_module(f"{package}.training.teacher")
        # (order, weight): one TeacherSettings since issue 71, two arguments before
        teacher = (ngram.TeacherSettings(*w["teacher"]),) if hasattr(ngram, "TeacherSettings") else w["teacher"]
        coach = ngram.NgramTeacher(corpus_ids("shakespeare", TRAIN_CHARS, w["vocab"]), w["vocab"], *teacher)
    return model, ours_step(model, model.parameters(), opt, data, nn, coach)


def build_optimizer(nn, model, o: dict):
    """OptimSettings.build's optimizer: Muon for the hidden matrices and AdamW for the rest, or AdamW. The options go
    in as Muon's group options (its `defaults`' names), which every lmladder version takes."""
    if o["name"] == "muon":
        keys = ("muon_lr", "momentum", "nesterov", "ns_steps", "split_blocks", "ns_coeffs")
        hyper = {k: o[k] for k in keys if k in o}
        return nn.Muon(nn.muon_groups(model, o["weight_decay"]), lr=o["lr"], betas=BETAS, **hyper)
    return nn.AdamW(nn.decay_groups(model.named_parameters(), o["weight_decay"]), lr=o["lr"], betas=BETAS)


def build_torch(torch, w: dict, data, fused: bool, model_ours, optim: dict | None = None):
    import torch_ref
    from lmladder.data.batching import context_windows

    torch.manual_seed(0)
    if w["kind"] == "gpt":
        options = w.get("model", {}) | w.get("extra", {})
        vocab = options.pop("vocab_size", w["vocab"])  # an `extra` may set a larger vocabulary (BPE tokens)
        model = torch_ref.GPT(vocab, w["T"], w["L"], w["H"], w["C"], sdpa=fused, **options)
        tdata = data
    elif w["kind"] == "rnn":
        model = torch_ref.GRU(w["vocab"], w["E"], w["hidden"])  # torch.nn.GRU: the same sizes and equations
        tdata = data
    else:
        model = torch_ref.MLP(w["vocab"], w["context"], w["E"], w["hidden"])
        # the same examples as ours: each position's context window -> its next token
        win = [context_windows(x, w["context"], model_ours.pad_id) for x, _ in data]
        tdata = [(c.reshape(-1, w["context"]).copy(), y.reshape(-1)) for c, (_, y) in zip(win, data, strict=True)]
    o = optim or w.get("optim", ADAMW)
    if o["name"] == "muon":  # torch.optim.Muon for the blocks' matrices, AdamW (fused or not) for the rest
        hyper = (o["muon_lr"], o["momentum"], o["nesterov"], o["ns_steps"])
        opt = torch_ref.muon(model, o["lr"], BETAS, o["weight_decay"], fused, *hyper)
    else:
        opt = torch_ref.adamw(model.parameters(), o["lr"], BETAS, o["weight_decay"], fused)
    return torch_ref.train_step(model, opt, tdata, CLIP)


def peak_traced_mb(step) -> float:
    import tracemalloc

    try:  # empty lmladder's array pool first, or the step would reuse arrays allocated before tracing began
        from lmladder.fast import memory

        memory.release()
    except ImportError:  # an older lmladder without the pool
        pass
    tracemalloc.start()
    step()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return round(peak / 2**20, 1)


def run(name: str, w: dict, torch, scale: float, peak: float) -> dict:
    variant = "teacher" if "teacher" in w else "extra" if "extra" in w else None  # set against the plain step
    torch = None if variant == "teacher" else torch  # PyTorch's side has no teacher: no ratio to set against it
    fns, model, data = contenders(name, torch)
    optim = w.get("optim", ADAMW)
    adamw = {**ADAMW, "lr": optim["lr"], "weight_decay": optim["weight_decay"]}  # Muon's overhead: AdamW throughout
    if optim["name"] == "muon":
        fns["ours_adamw"] = build_ours(w, data, optim=adamw)[1]
        if torch is not None:
            fns["torch_fused_adamw"] = build_torch(torch, w, data, True, model, optim=adamw)
    if variant:  # the teacher's or the extra options' cost per step: the same step without them
        fns["ours_plain"] = build_ours(w, data, plain=True)[1]
    ours = fns["ours"]
    repeats = max(3, int(w["repeats"] * scale))
    med, rounds = interleaved(fns, w["warmup"], repeats, block=w["block"])
    tokens = w["B"] * w["T"]
    row = {"benchmark": "train", "workload": name, "tokens_per_step": tokens, "repeats": repeats}
    row["params"] = model.num_parameters()
    if "model" in w or "optim" in w:
        row |= {"model": w.get("model", {}) | w.get("extra", {}), "optim": optim}
    for k, s in med.items():
        row[f"{k}_ms"] = round(s * 1e3, 3)
        row[f"{k}_tok_s"] = round(tokens / s)
    for k in ("torch_plain", "torch_fused", "torch_fused_adamw"):
        if k in med:
            row[f"ratio_vs_{k}"] = round(med[k] / med["ours"], 3)  # > 1: ours is faster
            row[f"ratio_vs_{k}_rounds"] = ratio_spread(rounds, k, "ours")  # [min, median, max] over rounds
    for k in ("ours", "torch_fused"):
        if f"{k}_adamw" in med:  # Muon's cost per step over AdamW's, and the ratio's spread over rounds
            row[f"{k}_muon_overhead_ms"] = round((med[k] - med[f"{k}_adamw"]) * 1e3, 3)
            row[f"{k}_muon_over_adamw_rounds"] = ratio_spread(rounds, k, f"{k}_adamw")
    if variant:
        row[f"{variant}_overhead_ms"] = round((med["ours"] - med["ours_plain"]) * 1e3, 3)
        row[f"{variant}_over_plain"] = round(med["ours"] / med["ours_plain"], 4)
        row[f"{variant}_over_plain_rounds"] = ratio_spread(rounds, "ours", "ours_plain")
    # MFU: the model's own training FLOPs per token (Counts, as the frontier counts them) over the GEMM peak
    row["flops_per_token"] = model.config.counts().flops_per_token
    for k, s in med.items():
        row[f"{k}_mfu"] = round(row["flops_per_token"] * tokens / s / peak, 4)
    row["ours_peak_mb_tracemalloc"] = peak_traced_mb(ours)
    return row


def contenders(name: str, torch) -> tuple[dict, object, list]:
    """({name: step} of ours and torch's plain and fused steps, our model, the batches) for a workload."""
    w = WORKLOADS[name]
    data = batches(corpus_ids("shakespeare" if w["kind"] == "gpt" else "names", 200_000, w["vocab"]), w["B"], w["T"], 8)
    model, ours = build_ours(w, data)
    fns = {"ours": ours}
    if torch is not None:
        fns["torch_plain"] = build_torch(torch, w, data, False, model)
        fns["torch_fused"] = build_torch(torch, w, data, True, model)
    return fns, model, data


def run_beside(name: str, torch, args) -> dict:
    """Tokens/s of each contender idle and beside the neighbour, and the ratio (neighbour.py)."""
    from neighbour import SPIN, Neighbour, beside

    fns = contenders(name, torch)[0]
    worker = [sys.executable, __file__, "--loop", name, *(["--threads", str(args.threads)] if args.threads else [])]
    with Neighbour(SPIN if args.neighbour == "spin" else worker, 0 if args.neighbour == "spin" else 8) as n:
        res = beside(fns, n, args.rounds, args.seconds)
    tokens = WORKLOADS[name]["B"] * WORKLOADS[name]["T"]
    row = {"benchmark": "neighbour", "workload": name, "neighbour": args.neighbour, "rounds": args.rounds}
    for k, r in res.items():
        row |= {f"{k}_idle_tok_s": round(r["idle"] * tokens), f"{k}_busy_tok_s": round(r["busy"] * tokens)}
        row |= {f"{k}_busy_over_idle": r["ratio"], f"{k}_busy_over_idle_rounds": r["ratio_rounds"]}
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, choices=(1, 2), default=None)
    ap.add_argument("--workloads", nargs="*", default=list(WORKLOADS), choices=list(WORKLOADS))
    ap.add_argument("--no-torch", action="store_true", help="skip the PyTorch reference even if importable")
    ap.add_argument("--scale", type=float, default=1.0, help="multiply the number of timed steps")
    ap.add_argument("--neighbour", choices=("spin", "same"), help="time idle and beside this neighbour")
    ap.add_argument("--rounds", type=int, default=3, help="--neighbour: idle/busy rounds")
    ap.add_argument("--seconds", type=float, default=3.0, help="--neighbour: timed seconds per turn")
    ap.add_argument("--loop", choices=list(WORKLOADS), help=argparse.SUPPRESS)  # the `same` neighbour's body
    add_peak_option(ap)
    args = ap.parse_args()
    set_threads(args.threads)  # before NumPy loads BLAS
    global np
    import numpy as np

    if args.loop:
        from neighbour import loop

        loop(contenders(args.loop, None)[0]["ours"])
    torch = torch_or_none(args.threads, not args.no_torch)
    peak = peak_flops(args.peak_json, args.threads)
    print(
        json.dumps(
            {"benchmark": "machine", **machine_info(args.threads, torch), "matmul_peak_gflops": round(peak / 1e9, 1)}
        ),
        flush=True,
    )
    for name in args.workloads:
        row = run_beside(name, torch, args) if args.neighbour else run(name, WORKLOADS[name], torch, args.scale, peak)
        print(json.dumps(row), flush=True)
    import resource

    print(json.dumps({"benchmark": "process", "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024}))


if __name__ == "__main__":
    main()
