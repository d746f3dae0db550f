"""Reports: collect runs (the pipeline's outputs/<rung>/seed<N> or Hydra sweep folders), summarize them over seeds
into the perplexity table (quality only, deterministic: DVC outputs and metrics) and the timing table (wall clock),
plot them, and compare two tables. Used by the evaluate stage, `lmladder report` and `lmladder compare`.

Import from the modules (collect, tables, plots, compare...): the package itself imports nothing, so that
`lmladder --help` and a parser listing the score names (names.py) start without pandas."""
