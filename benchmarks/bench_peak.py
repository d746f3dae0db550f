"""This machine's float32 GEMM peak at a thread count: what every MFU figure divides by.

Large square products through NumPy's BLAS (lmladder.training.mfu.gemm_rates: (n, n) @ (n, n), 2 n^3 FLOPs each,
one untimed first), the best of --repeats; their median beside it. Prints one JSON line for the machine (its CPU
named) and one for the peak. bench_train.py, bench_generate.py and bench_score.py measure the same peak at their
start, or read this script's output with --peak-json (measure once on an idle machine, then run them).

    python benchmarks/bench_peak.py --threads 2 [--n 2048] [--repeats 7] [--keep] > peak_t2.jsonl

--keep also keeps the peak as lmladder's own for this machine and thread count (the user's cache folder,
lmladder.training.mfu.keep_peak): the one a training run's last line divides its MFU by, instead of one measured
after some run while the machine may have been busy.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine_info, set_threads  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=None, help="BLAS threads (default: the BLAS's own choice)")
    ap.add_argument("--n", type=int, default=2048, help="matrix size")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--keep", action="store_true", help="keep it as lmladder's peak for this machine and --threads")
    args = ap.parse_args()
    if args.keep and not args.threads:
        sys.exit("bench_peak: --keep needs --threads N (the peak is kept per thread count)")
    set_threads(args.threads)  # before NumPy loads BLAS
    from lmladder.training import mfu

    print(json.dumps({"benchmark": "machine", **machine_info(args.threads)}), flush=True)
    rates = mfu.gemm_rates(None, args.n, args.repeats)
    row = {"benchmark": "peak", "threads": args.threads or "default", "n": args.n, "repeats": args.repeats}
    row |= {"peak_gflops": round(max(rates) / 1e9, 1), "median_gflops": round(statistics.median(rates) / 1e9, 1)}
    row["runs_gflops"] = [round(r / 1e9, 1) for r in rates]
    if args.keep:
        row["kept"] = mfu.keep_peak(args.threads, max(rates))
        row["kept_in"] = str(mfu.cache_path())
    print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
