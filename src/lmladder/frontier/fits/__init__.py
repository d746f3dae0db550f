"""The fits of a frontier study: isoFLOP profiles (profiles.py), frontiers and crossovers (envelope.py; from the laws:
optimal.py), the parametric laws (parametric.py, laws.py) and whether the runs can identify them (design.py), the
held-out checks (holdout.py), all numbers at once (estimates.py), the bootstrap (bootstrap.py, analysis.py) and the
tables (tables.py, crossover_table.py)."""
