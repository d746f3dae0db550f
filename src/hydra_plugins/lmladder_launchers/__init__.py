"""Hydra plugins of lmladder (Hydra finds plugins only under hydra_plugins): resilient_joblib."""
