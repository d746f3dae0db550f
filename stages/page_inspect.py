"""Stage `page@inspect`, with `pages: [inspect]`: `lmladder inspect`'s pictures of each pipeline rung's first seed
with its loss against position in the context (outputs/reports/inspect/<rung>/index.html). Off by default: the
pictures cost more than the rest of the evaluate stage (docs/pipeline.md).

    dvc exp run -S 'pages=[inspect]'                     # the pipeline's, into outputs/reports/inspect/
    python stages/page_inspect.py                        # the same from outputs/, into outputs/runs/<date>/<time>/
"""

from lmladder.interrupt import quietly

with quietly():  # a Ctrl-C while the modules below load: one line and exit 130, not a traceback
    from pathlib import Path

    import hydra
    from omegaconf import DictConfig

    from lmladder.app.policy import stage
    from lmladder.app.runs import first_run
    from lmladder.app.startup import check_run_dir, entry
    from lmladder.inference.positions import position_curve
    from lmladder.insight import inspect_run


@hydra.main(config_path="../conf", config_name="config", version_base=None)
def main(cfg: DictConfig) -> None:
    with stage("page@inspect", cfg) as st:
        data = st.prepared()
        out = (Path(st.run.paths.reports) if st.dvc else st.job_dir) / "inspect"
        for rung in st.run.pipeline:  # each rung's first seed, as the evaluate stage's positions
            ckpt = first_run(st, rung)
            note = lambda line, rung=rung: print(f"[page@inspect] inspect/{rung}: {line}")  # noqa: E731
            curve = lambda ck: position_curve(ck.model, data.splits["val"], boundary_id=data.boundary_id)  # noqa: E731
            inspect_run(ckpt, out / rung, log=note, positions=curve)
        print(f"[page@inspect] {len(st.run.pipeline)} rungs -> {out}")


if __name__ == "__main__":
    with entry("page@inspect"):
        check_run_dir("page@inspect")
        main()
