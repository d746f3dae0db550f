"""The compute frontier of the ladder: which rung wins at which budget, and the scaling laws of each
(docs/frontier.md). `lmladder frontier plan | run | fit` drives it:

    preset.py     the preset (conf/frontier/<name>.yaml) as typed objects
    plan.py       the grid: each (rung, size, budget, seed) point an ordinary run, its steps from its budget
    calibrate.py  tokens per second of a model size on this machine (budgets in seconds)
    study.py      the study folder: plan.json, each point's run folder, what a launch runs
    branches.py   cool-down branches: each size's budgets from one stable run (wsd schedules)
    runs.py       the runs a fit reads, one row each (runs.csv)
    fits/         isoFLOP profiles, frontiers and crossovers, power laws, the parametric laws, the bootstrap
    figures.py, report.py   what a fit writes

Import from the modules themselves: this package's own import stays light (every `lmladder` command loads it).
"""
