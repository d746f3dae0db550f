"""Stage `evaluate`: re-score the checkpoint of every rung in `pipeline` (the rungs dvc.yaml trains) for every seed
on the full val/test splits (which also proves it was trained on this vocabulary) and write the perplexity table
(outputs/reports/perplexity.{csv,md,png}, runs.csv, metrics.json, curves/, units/: quality only, deterministic),
the network-health table, each rung's first seed's loss against position in the context on val (positions.{csv,md,png}
with its "context used") and `lmladder inspect`'s pictures (inspect/<rung>/index.html), `lmladder diff` of the top
rung against the one below it (diff/index.html), and the wall-clock timing.{csv,md} beside it."""

from lmladder.interrupt import quietly

with quietly():  # a Ctrl-C while the modules below load: one line and exit 130, not a traceback
    from pathlib import Path

    import hydra
    from omegaconf import DictConfig

    from lmladder.app.policy import stage
    from lmladder.app.startup import check_renamed, check_run_dir, entry
    from lmladder.checkpoints import load_training_checkpoint
    from lmladder.config import ConfigError
    from lmladder.diff import write_note
    from lmladder.diff.pair import diff_on_split
    from lmladder.inference.positions import position_curve
    from lmladder.inference.scoring import score_splits_units
    from lmladder.insight import inspect_run
    from lmladder.insight.positions import write_positions
    from lmladder.reports import collect, write_curves, write_report


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
        firsts = runs.table.drop_duplicates("rung")  # each rung's first seed: its pictures and position curve
        curves, models = {}, {}
        for rung, job in zip(firsts["rung"], firsts["job"], strict=True):
            models[rung] = (job, load_training_checkpoint(root / job / "model.safetensors").model)
            curves[rung] = position_curve(models[rung][1], data.splits["val"], boundary_id=data.boundary_id)
            note = lambda line, rung=rung: print(f"[evaluate] inspect/{rung}: {line}")  # noqa: E731
            inspect_run(root / job, out / "inspect" / rung, log=note, positions=curves[rung])
        write_positions(curves, out, what=f"{st.run.data.name} val split, each rung's first seed")
        ladder = [r for r in st.run.pipeline if r in models]  # bottom to top
        if len(ladder) >= 2:  # what the last step up the ladder bought, character by character
            what = f"the {st.run.data.name} val split"
            diff_on_split(out / "diff", models[ladder[-2]], models[ladder[-1]], data, what=what)
        else:  # dvc.yaml declares the folder whatever the pipeline
            write_note(out / "diff", f"The pipeline has one rung ({', '.join(ladder)}); a diff needs two.")
        print((out / "perplexity.md").read_text(encoding="utf-8"))
        print(f"[evaluate] {len(summary)} rungs, {len(runs.table)} runs -> {out}")


if __name__ == "__main__":
    with entry("evaluate"):
        check_renamed("evaluate")
        check_run_dir("evaluate")
        main()
