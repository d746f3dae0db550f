"""The fits of a frontier study: isoFLOP profiles (profiles.py), frontiers and crossovers (envelope.py), the
parametric laws (parametric.py, laws.py), all numbers at once (estimates.py), the bootstrap (bootstrap.py,
analysis.py) and the tables (tables.py)."""
