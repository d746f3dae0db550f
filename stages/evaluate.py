"""Stage `evaluate`: score every rung's checkpoint for every seed on the full val/test splits and write the
perplexity table (outputs/reports/perplexity.{csv,md,png}, metrics.json)."""

import json
from pathlib import Path

import hydra
import pandas as pd
from omegaconf import DictConfig

from _stage import stage
from lmladder.config import ConfigError
from lmladder.io import WriteError
from lmladder.models import LADDER
from lmladder.report import run_row, write_curves, write_report
from lmladder.training import load_training_checkpoint, score_splits


@hydra.main(config_path="../conf", config_name="config", version_base=None)
def main(cfg: DictConfig) -> None:
    with stage("evaluate", cfg) as st:
        data = st.prepared()
        rows, curves = [], {}
        for rung in LADDER:
            for seed in st.run.seeds:
                run_dir = Path(st.run.paths.outputs) / rung / f"seed{seed}"
                ckpt = run_dir / "model.safetensors"
                if not ckpt.exists():
                    if st.dvc:
                        raise ConfigError(f"{ckpt} is missing; run `dvc repro` to train every rung and seed")
                    print(f"[evaluate] skipping {rung} seed {seed}: no {ckpt}")
                    continue
                ck = load_training_checkpoint(ckpt)
                if ck.tokenizer.to_dict() != data.tokenizer.to_dict():
                    raise ConfigError(
                        f"{ckpt} was trained with another vocabulary than {st.run.paths.prepared}; "
                        "re-run training (`dvc repro`)"
                    )
                trained = {}
                for name in ("metrics.json", "timing.json"):
                    if (run_dir / name).exists():
                        trained.update(json.loads((run_dir / name).read_text()))
                scores = score_splits(ck.model, data)
                rows.append(run_row({**trained, **scores}, rung=rung, seed=seed))
                if (run_dir / "eval_log.tsv").exists():
                    curves[f"{rung}_seed{seed}"] = pd.read_csv(run_dir / "eval_log.tsv", sep="\t")
        if not rows:
            raise ConfigError(f"no checkpoints under {st.run.paths.outputs}; train first (`dvc repro`)")
        out = Path(st.run.paths.reports) if st.dvc else st.job_dir
        try:
            write_curves(curves, out / "curves")
            summary = write_report(
                pd.DataFrame(rows),
                ["rung"],
                out,
                curves=curves,
                title=f"Perplexity on {st.run.data.name} (exact, every token of each split)",
            )
        except WriteError:
            raise
        except OSError as e:  # e.g. the plot, which matplotlib writes itself
            raise WriteError(
                f"cannot write the report into {out}: {e.strerror or e}; free disk space (or fix permissions of "
                f"{out}) and run evaluate again"
            ) from None
        print((out / "perplexity.md").read_text())
        print(f"[evaluate] {len(summary)} rungs, {len(rows)} runs -> {out}")


if __name__ == "__main__":
    main()
