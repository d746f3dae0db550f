"""Stage `mlp`: train the Bengio MLP language model through lmladder's autograd (settings from `mlp.*`)."""

import hydra
from omegaconf import DictConfig

from _stage import train_neural


@hydra.main(config_path="../conf", config_name="config", version_base=None)
def main(cfg: DictConfig) -> None:
    train_neural(cfg, "mlp", model="mlp", block_key="mlp.train.block_size")


if __name__ == "__main__":
    main()
