"""The score and timing columns every runs table has. A leaf without pandas: the `lmladder` command's parser lists
them (`compare --metric`) before any table is read."""

SCORES = tuple(f"{split}_{k}" for split in ("val", "test") for k in ("nll", "ppl", "bpc", "bpb"))
TIMINGS = ("train_time_s", "tokens_per_s")  # wall clock, machine-local: never in a DVC output or metric
METRICS = (*SCORES, "params", *TIMINGS)  # what `lmladder compare` can compare
