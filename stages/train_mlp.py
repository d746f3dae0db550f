"""Stage `mlp`: train the Bengio MLP language model through lmladder's autograd (settings from `mlp.*`)."""

from dataclasses import asdict

import hydra
from omegaconf import DictConfig

from _stage import stage
from lmladder.training import run_neural_model


@hydra.main(config_path="../conf", config_name="config", version_base=None)
def main(cfg: DictConfig) -> None:
    with stage("mlp", cfg) as st:
        c = st.run.mlp
        out = st.out_dir("mlp")
        m = run_neural_model(
            "mlp",
            st.prepared(),
            asdict(c.model),
            optim=c.optim,
            settings=c.train,
            seed=st.run.seed,
            out_dir=out,
            meta=st.meta("mlp"),
            resume=st.resume_path(out),
            block_key="mlp.train.block_size",
        )
        print(f"[mlp] val NLL {m['val']['nll']:.4f} (ppl {m['val']['ppl']:.3f}) in {m['train_time_s']:.1f}s -> {out}")


if __name__ == "__main__":
    main()
