"""Files lmladder wrote and reads back, edited as an editor, a crash or another program might leave them: the
sandbox's readback/ folder for the cases of cases.py (issue 32, class 3)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import yaml


def build_readback(root: Path, evaluate_output: str) -> None:
    """Under root/readback: a run whose metrics.json has a string score, two sweep jobs with a broken
    .hydra/overrides.yaml, report tables with a non-numeric value or one setting twice, what `lmladder evaluate` prints
    (`evaluate_output`), and two copies of data/prepared with two letters (vocab.json) or two ids (train.npy)
    swapped."""
    d = root / "readback"
    good = root / "runs" / "good"
    run = d / "metrics_type" / "mlp" / "seed0"  # the pipeline's layout: outputs/<rung>/seed<N>
    run.mkdir(parents=True)
    metrics = json.loads((good / "metrics.json").read_text())
    (run / "metrics.json").write_text(json.dumps({**metrics, "val": {**metrics["val"], "nll": "low"}}))
    overrides = {"overrides_not_utf8": b"- mlp.model.n_hidden=64\n- seed=\xff\n", "overrides_mapping": b"seed: 0\n"}
    for name, raw in overrides.items():
        hydra = d / name / "0" / ".hydra"
        hydra.mkdir(parents=True)
        (hydra / "overrides.yaml").write_bytes(raw)
        (hydra / "hydra.yaml").write_text(yaml.safe_dump({"hydra": {"job": {"name": "train"}}}))
        (hydra / "config.yaml").write_text(yaml.safe_dump({"seed": 0, "rung": "mlp"}))
    (d / "non_numeric.csv").write_text("rung,n,val_nll,val_nll_std\nmlp,2,2.1,0.01\nbigram,2,low,0.0\n")
    (d / "twice.csv").write_text("rung,n,val_nll,val_nll_std\nmlp,2,2.1,0.01\nmlp,2,2.0,0.01\n")
    (d / "evaluate.json").write_text(evaluate_output)
    (d / "score_string.json").write_text(json.dumps({"mlp": {"val_nll": "2.1"}}))
    prepared = root / "data" / "prepared"
    shutil.copytree(prepared, d / "vocab_swapped")
    vocab = json.loads((prepared / "vocab.json").read_text(encoding="utf-8"))
    vocab["chars"] = vocab["chars"].replace("ab", "ba", 1)  # still a valid tokenizer: only a hash can tell
    (d / "vocab_swapped" / "vocab.json").write_text(json.dumps(vocab, indent=2, ensure_ascii=False) + "\n")
    shutil.copytree(prepared, d / "train_swapped")
    ids = np.load(prepared / "train.npy")
    i, j = 1, int(np.flatnonzero(ids != ids[1])[0])  # two different ids: the swap changes the data
    ids[[i, j]] = ids[[j, i]]
    np.save(d / "train_swapped" / "train.npy", ids, allow_pickle=False)
