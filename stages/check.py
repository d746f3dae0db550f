"""Stage `check`: the whole composed config, validated before DVC runs any other stage.

DVC deletes a stage's outputs just before it runs the stage, so an error that only the training stage found would
cost the last good run of that rung (and its timing.json). Every other stage comes after this one (prepare depends
on its gate file), so a bad `dvc exp run -S ...` stops here, with nothing deleted. The gate's bytes never change:
a passing check reruns nothing downstream.

    python stages/check.py rnn.model.n_embd=0             # the same check outside DVC, on conf/ and overrides
"""

from lmladder.interrupt import quietly

with quietly():  # a Ctrl-C while the modules below load: one line and exit 130, not a traceback
    from dataclasses import fields, replace

    import hydra
    import numpy as np
    from omegaconf import DictConfig

    from lmladder.app.policy import stage
    from lmladder.app.startup import check_renamed, entry
    from lmladder.config import ConfigError, rung_settings, rung_settings_keys
    from lmladder.data import check_source
    from lmladder.errors import LmladderError, reworded
    from lmladder.io import atomic_write_text
    from lmladder.models import rung_class
    from lmladder.training import budget
    from lmladder.training.settings import check_model, rung_schema

GATE = "outputs/config-checked.txt"  # dvc.yaml: check's output, prepare's dependency
GATE_TEXT = "stages/check.py found the composed config (params.yaml) valid; every other stage runs after it.\n"


@hydra.main(config_path="../conf", config_name="config", version_base=None)
def main(cfg: DictConfig) -> None:
    with stage("check", cfg) as st:
        run = st.run  # the top level: data, seeds, pipeline, paths
        d = run.data
        check_source(d.source, path=d.path, url=d.url, sha256=d.sha256)
        for rung in run.pipeline:  # every rung the pipeline trains, typed as its stage types it
            cls = rung_class(rung)
            settings = rung_settings(cfg, rung, rung_schema(cls))
            if cls.trainable and (settings.optim.name == "muon" or settings.train.targets == "all"):
                check_built(rung, cls, settings)
        if st.dvc:
            atomic_write_text(GATE, GATE_TEXT)
        print(f"[check] config valid: data {d.name}, rungs {', '.join(run.pipeline)}, seeds {list(run.seeds)}")


def check_built(rung: str, cls: type, settings) -> None:
    """Settings that only a built model can judge (Muon needs hidden matrices, targets=all no BatchNorm), on a stand-in
    of the rung's sizes at a two-token vocabulary (the vocabulary sizes only the embeddings and the head)."""
    data = {"vocab_size": 2, "pad_id": 0, "boundary_id": 0}
    config = replace(settings.model, **{f.name: data[f.name] for f in fields(settings.model) if f.name in data})
    try:
        budget.check_weights(cls, config)
        check_model(cls(config, rng=np.random.default_rng(0)), settings.optim, settings.train)
    except LmladderError as e:
        raise ConfigError(reworded(e, rung_settings_keys(rung, settings))) from e


if __name__ == "__main__":
    with entry("check"):
        check_renamed("check")
        main()
