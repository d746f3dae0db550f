"""Stage `page@diff`, with `pages: [diff]`: `lmladder diff` of the pipeline's top rung against the one below it on
the val split, each rung's first seed (outputs/reports/diff/index.html: the text coloured by where the top rung
does better). Off by default: its scoring and bootstrap cost about as much as the rest of the evaluate stage.

    dvc exp run -S 'pages=[diff]'                        # the pipeline's, into outputs/reports/diff/
    python stages/page_diff.py                           # the same from outputs/, into outputs/runs/<date>/<time>/
"""

from lmladder.interrupt import quietly

with quietly():  # a Ctrl-C while the modules below load: one line and exit 130, not a traceback
    from pathlib import Path

    import hydra
    from omegaconf import DictConfig

    from lmladder.app.policy import stage
    from lmladder.app.runs import first_run
    from lmladder.app.startup import check_run_dir, entry
    from lmladder.checkpoints import load_training_checkpoint
    from lmladder.diff import write_note
    from lmladder.diff.pair import diff_on_split


@hydra.main(config_path="../conf", config_name="config", version_base=None)
def main(cfg: DictConfig) -> None:
    with stage("page@diff", cfg) as st:
        data = st.prepared()
        out = (Path(st.run.paths.reports) if st.dvc else st.job_dir) / "diff"
        ladder = list(st.run.pipeline)  # bottom to top
        if len(ladder) < 2:  # dvc.yaml declares the folder whatever the pipeline
            write_note(out, f"The pipeline has one rung ({', '.join(ladder)}); a diff needs two.")
            return
        sides = []
        for rung in ladder[-2:]:  # what the last step up the ladder bought, character by character
            ckpt = first_run(st, rung)
            sides.append((f"{rung}/{ckpt.parent.name}", load_training_checkpoint(ckpt).model))
        diff_on_split(out, *sides, data, what=f"the {st.run.data.name} val split")
        print(f"[page@diff] {sides[1][0]} against {sides[0][0]} -> {out}")


if __name__ == "__main__":
    with entry("page@diff"):
        check_run_dir("page@diff")
        main()
