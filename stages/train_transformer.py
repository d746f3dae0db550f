"""Stage `transformer`: train the GPT through lmladder's autograd (settings from `transformer.*`)."""

import hydra
from omegaconf import DictConfig

from _stage import train_neural


@hydra.main(config_path="../conf", config_name="config", version_base=None)
def main(cfg: DictConfig) -> None:
    train_neural(cfg, "transformer", model="gpt", block_key="transformer.model.block_size")


if __name__ == "__main__":
    main()
