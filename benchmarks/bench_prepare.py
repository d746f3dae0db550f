"""Preparing large corpora: MB/s and peak memory of `prepare` per tokenizer, and a large end-to-end run.

The corpus is generated: the Python standard library's own .py sources (every machine has them), concatenated in
sorted order and repeated up to --mb megabytes (10^6 bytes), cached under --dir. Each workload runs in a fresh
process (its peak RSS is its own; bpe's encoding workers are counted as their largest one) and prints one JSON line.

    python benchmarks/bench_prepare.py --mb 100 --tokenizers char byte word bpe > prepare.jsonl
    python benchmarks/bench_prepare.py --mb 100 --kind lines        # one document per line
    python benchmarks/bench_prepare.py --mb 1000 --tokenizers char --end-to-end   # + 200 GPT steps, exact val score

--end-to-end trains the GPT rung for 200 steps on the prepared corpus (stages/train.py, split 99% / 1%: a val split
of --mb / 100 million characters) and scores all of val exactly, reporting the run's wall time and peak RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

from _common import machine_info

ROOT = Path(__file__).resolve().parent.parent
# each tokenizer's own settings: its block of the data settings (data.word, data.bpe)
OPTIONS = {"char": {}, "byte": {}, "word": {"word": {"min_count": 2}}, "bpe": {"bpe": {"vocab_size": 4096}}}
# peak RSS counts the pages of mapped files too; RssAnon (sampled every 20 ms) is the memory the process itself took
ONE = """
import json, resource, sys, threading, time
from lmladder.data import DataConfig
from lmladder.data.store import prepare
anon = [0]
def sample():
    while True:
        for line in open("/proc/self/status"):
            if line.startswith("RssAnon:"):
                anon[0] = max(anon[0], int(line.split()[1]))
        time.sleep(0.02)
threading.Thread(target=sample, daemon=True).start()
t = time.perf_counter()
stats = prepare(DataConfig(**json.loads(sys.argv[1])), sys.argv[2])
print(json.dumps({"s": time.perf_counter() - t, "tokens": {k: v["tokens"] for k, v in stats["splits"].items()},
                  "vocab": stats["vocab_size"], "self_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                  "anon_kb": anon[0], "children_kb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))
"""

PEAK = """
import atexit, os, resource, runpy, sys
atexit.register(lambda: print("PEAK_KB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr))
sys.argv = sys.argv[1:]
sys.path.insert(0, os.path.dirname(sys.argv[0]))
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def corpus(folder: Path, mb: int, kind: str) -> Path:
    """--mb million bytes of standard library source (lines: its non-blank lines, each a document), written once
    (atomically) and reused."""
    path = folder / f"stdlib-{kind}-{mb}mb.txt"
    if path.exists():
        return path
    files = sorted(Path(sysconfig.get_paths()["stdlib"]).rglob("*.py"))
    texts = [t for f in files if (t := _read(f))]
    if kind == "lines":
        texts = [b"".join(ln + b"\n" for ln in t.splitlines() if ln.strip()) for t in texts]
    need, tmp = mb * 10**6, path.with_suffix(".part")
    folder.mkdir(parents=True, exist_ok=True)
    with open(tmp, "wb") as out:
        while need > 0:
            for t in texts:
                out.write(t[:need])
                need -= len(t[:need])
                if need <= 0:
                    break
    os.replace(tmp, path)
    return path


def _read(file: Path) -> bytes:
    try:
        data = file.read_bytes()
        data.decode("utf-8")
        return data
    except (OSError, UnicodeDecodeError):
        return b""


def prepare_row(path: Path, kind: str, tokenizer: str, out: Path) -> dict:
    fractions = [0.9, 0.1] if kind == "stream" else [0.8, 0.1, 0.1]
    cfg = {"name": "bench", "source": "file", "path": str(path), "kind": kind, "tokenizer": tokenizer,
           "fractions": fractions, **OPTIONS[tokenizer]}  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    r = subprocess.run([sys.executable, "-c", ONE, json.dumps(cfg), str(out)], capture_output=True, text=True,
                       env=env, check=True)  # fmt: skip
    got = json.loads(r.stdout.strip().splitlines()[-1])
    mb = path.stat().st_size / 1e6
    return {
        "workload": "prepare", "kind": kind, "tokenizer": tokenizer, **OPTIONS[tokenizer], "mb": round(mb, 1),
        "s": round(got["s"], 1), "mb_per_s": round(mb / got["s"], 2), "peak_rss_mb": round(got["self_kb"] / 1024),
        "peak_anon_mb": round(got["anon_kb"] / 1024),
        "worker_peak_rss_mb": round(got["children_kb"] / 1024), "vocab": got["vocab"], "tokens": got["tokens"],
        "npy_mb": round(sum((out / f"{k}.npy").stat().st_size for k in got["tokens"]) / 1e6, 1),
    }  # fmt: skip


def end_to_end_row(path: Path, work: Path, steps: int) -> dict:
    """stages/train.py on the corpus: prepare (into the run's cache), `steps` GPT steps, exact scoring of val."""
    run = work / "e2e-run"
    args = [
        "rung=transformer", "data.source=file", f"data.path={path}", "data.kind=stream", "data.tokenizer=char",
        "data.fractions=[0.99,0.01]", "data.name=stdlib", f"paths.prepared={work}/prepared",
        f"transformer.train.max_iters={steps}", f"transformer.train.eval.interval={steps}",
        "transformer.model.block_size=64", "transformer.train.eval.batch_size=32",  # logits: 32 x 64 x vocab
        "transformer.train.progress=false", "transformer.sample.num_samples=1", f"hydra.run.dir={run}",
    ]  # fmt: skip
    t = time.perf_counter()
    r = subprocess.run([sys.executable, "-c", PEAK, str(ROOT / "stages" / "train.py"), *args], cwd=work, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)  # fmt: skip
    wall = time.perf_counter() - t
    peak_kb = int(r.stderr.rsplit("PEAK_KB ", 1)[1].split()[0])
    metrics = json.loads((run / "metrics.json").read_text())
    timing = json.loads((run / "timing.json").read_text())
    return {
        "workload": "end_to_end", "mb": round(path.stat().st_size / 1e6, 1), "steps": steps,
        "wall_s": round(wall, 1), "train_s": round(timing["train_time_s"], 1),
        "peak_rss_mb": round(peak_kb / 1024),
        "val_tokens": metrics["val"]["tokens"], "val_nll": round(metrics["val"]["nll"], 4),
    }  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=int, default=100, help="corpus size in millions of bytes")
    ap.add_argument("--tokenizers", nargs="*", default=["char", "byte", "word", "bpe"], choices=list(OPTIONS))
    ap.add_argument("--kind", choices=["stream", "lines"], default="stream")
    ap.add_argument("--end-to-end", action="store_true", help="also train the GPT 200 steps and score val")
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--dir", type=Path, default=Path("/tmp/lmladder-bench-prepare"))
    a = ap.parse_args()
    path = corpus(a.dir, a.mb, a.kind)
    print(json.dumps({"machine": machine_info(None), "corpus": str(path)}), flush=True)
    for tok in a.tokenizers:
        print(json.dumps(prepare_row(path, a.kind, tok, a.dir / f"prepared-{tok}")), flush=True)
    if a.end_to_end:
        print(json.dumps(end_to_end_row(corpus(a.dir, a.mb, "stream"), a.dir, a.steps)), flush=True)


if __name__ == "__main__":
    main()
