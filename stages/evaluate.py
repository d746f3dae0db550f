"""Stage `evaluate`: re-score the checkpoint of every rung in `pipeline` (the rungs dvc.yaml trains) for every seed
on the full val/test splits (which also proves it was trained on this vocabulary) and write the perplexity table
(outputs/reports/perplexity.{csv,md,png}, runs.csv, metrics.json, curves/, units/: quality only, deterministic),
the network-health table, each rung's first seed's loss against position in the context on val (positions.{csv,md,png}
with its "context used") and the wall-clock timing.{csv,md} beside it. The pictures of each rung and the diff page
are optional stages after this one (`pages`: stages/page_inspect.py, stages/page_diff.py)."""

from lmladder.interrupt import quietly

with quietly():  # a Ctrl-C while the modules below load: one line and exit 130, not a traceback
    from pathlib import Path

    import hydra
    from omegaconf import DictConfig

    from lmladder.app.policy import stage
    from lmladder.app.startup import check_renamed, check_run_dir, entry
    from lmladder.checkpoints import load_training_checkpoint
    from lmladder.config import ConfigError
    from lmladder.inference.positions import position_curve
    from lmladder.inference.scoring import score_splits_units
    from lmladder.insight.positions import write_positions
    from lmladder.reports.collect import collect
    from lmladder.reports.plots import write_curves
    from lmladder.reports.tables import write_report


@hydra.main(config_path="../conf", config_name="config", version_base=None)
def main(cfg: DictConfig) -> None:
    with stage("evaluate", cfg) as st:
        data = st.prepared()
        root = Path(st.run.paths.outputs)
        fresh_units = {}  # job -> its units from this very scoring (written into the report's units/)

        def rescore(run_dir: Path) -> dict | None:
            ckpt = run_dir / "model.safetensors"
            if not ckpt.exists():
                if st.dvc:
                    raise ConfigError(f"{ckpt} is missing; run `dvc repro` to train every rung and seed")
                print(f"[evaluate] skipping {run_dir}: no {ckpt.name}")
                return None
            ck = load_training_checkpoint(ckpt)
            if ck.tokenizer.to_dict() != data.tokenizer.to_dict():
                raise ConfigError(
                    f"{ckpt} was trained with another vocabulary than {st.run.paths.prepared}; "
                    "re-run training (`dvc repro`)"
                )
            scores, fresh_units[str(run_dir.relative_to(root))] = score_splits_units(ck.model, data)
            return scores

        runs = collect(root, seeds=st.run.seeds, rungs=st.run.pipeline, score=rescore)
        runs.units = fresh_units
        if runs.table.empty:
            raise ConfigError(f"no checkpoints under {st.run.paths.outputs}; train first (`dvc repro`)")
        out = Path(st.run.paths.reports) if st.dvc else st.job_dir
        write_curves(runs.curves, out / "curves")
        summary = write_report(runs, out, title=f"Perplexity on {st.run.data.name} (exact, every token of each split)")
        firsts = runs.table.drop_duplicates("rung")  # each rung's first seed: its position curve
        curves = {}
        for rung, job in zip(firsts["rung"], firsts["job"], strict=True):
            model = load_training_checkpoint(root / job / "model.safetensors").model
            curves[rung] = position_curve(model, data.splits["val"], boundary_id=data.boundary_id)
        write_positions(curves, out, what=f"{st.run.data.name} val split, each rung's first seed")
        print((out / "perplexity.md").read_text(encoding="utf-8"))
        print(f"[evaluate] {len(summary)} rungs, {len(runs.table)} runs -> {out}")


if __name__ == "__main__":
    with entry("evaluate"):
        check_renamed("evaluate")
        check_run_dir("evaluate")
        main()
