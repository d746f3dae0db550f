"""Stage `bigram`: fit the count n-gram baseline (order and smoothing from `bigram.*`)."""

import hydra
from omegaconf import DictConfig

from _stage import stage
from lmladder.training import run_count_model


@hydra.main(config_path="../conf", config_name="config", version_base=None)
def main(cfg: DictConfig) -> None:
    with stage("bigram", cfg) as st:
        c = st.run.bigram
        out = st.out_dir("bigram")
        m = run_count_model(
            st.prepared(),
            {"order": c.order, "smoothing": c.smoothing},
            seed=st.run.seed,
            out_dir=out,
            meta=st.meta("bigram"),
            num_samples=c.num_samples,
            sample_tokens=c.sample_tokens,
            temperature=c.temperature,
        )
        print(f"[bigram] order {c.order}, add-{c.smoothing}: val NLL {m['val']['nll']:.4f} -> {out}")


if __name__ == "__main__":
    main()
