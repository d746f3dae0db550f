"""Reports: collect runs (the pipeline's outputs/<rung>/seed<N> or Hydra sweep folders), summarize them over seeds
into the perplexity table (quality only, deterministic: DVC outputs and metrics) and the timing table (wall clock),
plot them, and compare two tables. Used by the evaluate stage, `lmladder report` and `lmladder compare`."""

from .collect import SCORES, TIMINGS, ReportError, Runs, collect
from .plots import write_curves
from .tables import summarize, write_report

__all__ = ["SCORES", "TIMINGS", "ReportError", "Runs", "collect", "summarize", "write_curves", "write_report"]
