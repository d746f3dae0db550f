"""Stage `transformer`: train the GPT through lmladder's autograd (settings from `transformer.*`)."""

from dataclasses import asdict

import hydra
from omegaconf import DictConfig

from _stage import stage
from lmladder.training import run_neural_model


@hydra.main(config_path="../conf", config_name="config", version_base=None)
def main(cfg: DictConfig) -> None:
    with stage("transformer", cfg) as st:
        c = st.run.transformer
        out = st.out_dir("transformer")
        m = run_neural_model(
            "gpt",
            st.prepared(),
            asdict(c.model),
            optim=c.optim,
            settings=c.train,
            seed=st.run.seed,
            out_dir=out,
            meta=st.meta("transformer"),
            resume=st.resume_path(out),
            block_key="transformer.model.block_size",
        )
        print(
            f"[transformer] val NLL {m['val']['nll']:.4f} (ppl {m['val']['ppl']:.3f}) "
            f"in {m['train_time_s']:.1f}s -> {out}"
        )


if __name__ == "__main__":
    main()
