"""Which pieces of the modern transformer help? Each piece alone on nanoGPT's CPU GPT (`experiment=nanogpt_cpu`:
4 layers, 4 heads, 128 wide, context 64, batches of 12, 2,000 AdamW steps, cosine) and all together, at equal
wall-clock time, over several seeds: Δ exact val NLL against the baseline, mean ± std over seeds, the paired
bootstrap interval over val's units (reports/significance.py, the statistics of `lmladder compare`), and tokens/s.

    python benchmarks/ablate_gpt.py --data /path/to/tinyshakespeare.txt --out outputs/ablation

Two phases, every run through stages/train.py with one BLAS thread:
1. calibrate: each variant trains --calib-steps steps alone; its tokens/s (timing.json, training steps only) sets
   its step count, so that it trains as long as the baseline's --steps (a slower step gets fewer steps);
2. train: every (variant, seed), --jobs at a time. A finished run (metrics.json) is kept, so an interrupted
   ablation resumes where it stopped.
Writes ablation.md (the table) and ablation.csv (one row per run) into --out.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
from _common import machine_info  # noqa: E402

M = "transformer.model."
O = "transformer.optim."
# the modern pieces of conf/transformer/modern.yaml (+ soft-capped logits and grouped-query attention), each alone
VARIANTS = {
    "baseline": [],
    "rope": [f"{M}pos=rope"],
    "qk_norm": [f"{M}qk_norm=true"],
    "relu2": [f"{M}activation=relu2"],
    "zero_init_proj": [f"{M}zero_init_proj=true"],
    "untied_head": [f"{M}tie_weights=false"],
    "logit_softcap": [f"{M}logit_softcap=15.0"],
    "value_embeds": [f"{M}value_embeds=true"],
    "gqa": [f"{M}n_kv_head=2"],
    "muon": [f"{O}name=muon"],
    "wsd": [f"{O}schedule.name=wsd", f"{O}schedule.wsd.cooldown_frac=0.4"],
}
VARIANTS["all"] = [o for k, v in VARIANTS.items() if k not in ("baseline", "logit_softcap", "gqa") for o in v] + [
    f"{O}lr=0.003", f"{O}muon.lr=0.03", f"{O}weight_decay=0.0", f"{O}schedule.min_lr=0.0",  # modern.yaml's rates
]  # fmt: skip
ONE_THREAD = {v: "1" for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")}


def train(data: Path, run: Path, overrides: list[str], steps: int, seed: int) -> dict:
    """One stages/train.py run into `run` (kept if it finished); its metrics.json and timing.json."""
    if not (run / "metrics.json").exists():
        args = [
            "rung=transformer", "experiment=nanogpt_cpu", f"data.path={data}", f"seed={seed}",
            f"transformer.train.max_iters={steps}", "transformer.optim.schedule.decay_iters=null",
            "transformer.train.progress=false", f"hydra.run.dir={run}", *overrides,
        ]  # fmt: skip
        log = run.with_suffix(".log")
        run.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "w") as f:
            r = subprocess.run([sys.executable, str(ROOT / "stages" / "train.py"), *args], cwd=ROOT, stdout=f,
                               stderr=subprocess.STDOUT, env=os.environ | ONE_THREAD, check=False)  # fmt: skip
        if r.returncode:
            sys.exit(f"ablate_gpt: {run.name} failed (exit {r.returncode}); see {log}")
    return json.loads((run / "metrics.json").read_text()) | {"timing": json.loads((run / "timing.json").read_text())}


def calibrate(a) -> dict[str, int]:
    """Steps per variant for equal training time: --steps x baseline tokens/s / variant tokens/s."""
    speed = {}
    for name in dict.fromkeys(["baseline", *a.variants]):
        m = train(a.data, a.out / "calibrate" / name, VARIANTS[name], a.calib_steps, 0)
        speed[name] = m["timing"]["tokens_per_s"]
        print(f"calibrate {name}: {speed[name]:,.0f} tokens/s", flush=True)
    return {k: int(round(a.steps * v / speed["baseline"])) for k, v in speed.items()}


def summarise(rows: pd.DataFrame, out: Path, seeds: list[int]) -> str:
    from lmladder.inference.units import load_units
    from lmladder.reports import significance as sig

    def pooled(name):
        return sig.pool([load_units(out / name / f"seed{s}" / "units.npz")["val"] for s in seeds])

    base, ref = rows[rows.variant == "baseline"].set_index("seed"), pooled("baseline")
    lines = [
        "| variant | steps | tokens/s (calibration) | val NLL, mean ± std | Δ vs baseline, mean ± std | "
        "Δ 95% interval (paired bootstrap) |",
        "|---|---|---|---|---|---|",
    ]
    for name, g in rows.groupby("variant", sort=False):
        g = g.set_index("seed")
        d = g.val_nll - base.val_nll
        ci = "" if name == "baseline" else "[{nll_lo:+.4f}, {nll_hi:+.4f}]".format(**sig.paired(ref, pooled(name)))
        lines.append(
            f"| {name} | {g.steps.iloc[0]:,} | {g.calib_tokens_per_s.iloc[0]:,.0f} | {g.val_nll.mean():.4f} ± "
            f"{g.val_nll.std():.4f} | {'' if name == 'baseline' else f'{d.mean():+.4f} ± {d.std():.4f}'} | {ci} |"
        )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True, help="tinyshakespeare.txt")
    ap.add_argument("--out", type=Path, default=ROOT / "outputs" / "ablation")
    ap.add_argument("--steps", type=int, default=2000, help="the baseline's steps (nanogpt_cpu's)")
    ap.add_argument("--calib-steps", type=int, default=200)
    ap.add_argument("--seeds", type=int, nargs="*", default=[0, 1, 2])
    ap.add_argument("--jobs", type=int, default=2, help="runs at a time, one thread each")
    ap.add_argument("--variants", nargs="*", default=list(VARIANTS), choices=list(VARIANTS))
    a = ap.parse_args()
    a.data, a.out = a.data.resolve(), a.out.resolve()
    print(json.dumps({"machine": machine_info(1)}), flush=True)
    steps = calibrate(a)
    jobs = [(v, s) for v in ["baseline", *[x for x in a.variants if x != "baseline"]] for s in a.seeds]
    with cf.ThreadPoolExecutor(a.jobs) as pool:
        done = pool.map(lambda j: train(a.data, a.out / j[0] / f"seed{j[1]}", VARIANTS[j[0]], steps[j[0]], j[1]), jobs)
        results = list(done)
    calib = {k: json.loads((a.out / "calibrate" / k / "timing.json").read_text())["tokens_per_s"] for k in steps}
    rows = pd.DataFrame(
        {"variant": v, "seed": s, "steps": steps[v], "calib_tokens_per_s": calib[v], "val_nll": m["val"]["nll"],
         "train_s": m["timing"]["train_time_s"]}
        for (v, s), m in zip(jobs, results, strict=True)
    )  # fmt: skip
    rows.to_csv(a.out / "ablation.csv", index=False)
    table = summarise(rows, a.out, a.seeds)
    (a.out / "ablation.md").write_text(table + "\n")
    print(table)


if __name__ == "__main__":
    main()
