"""Stage `prepare`: read the corpus, build the vocabulary, split and write token arrays."""

from pathlib import Path

import hydra
from omegaconf import DictConfig

from _stage import stage
from lmladder.data import ensure_prepared, prepare


@hydra.main(config_path="../conf", config_name="config", version_base=None)
def main(cfg: DictConfig) -> None:
    with stage("prepare", cfg) as st:
        if st.dvc:
            stats = prepare(st.run.data, st.run.paths.prepared)
            print(
                f"[prepare] {st.run.paths.prepared}: {stats['source']}, vocab {stats['vocab_size']}, "
                + ", ".join(f"{k} {v['predicted_tokens']:,} tokens" for k, v in stats["splits"].items())
            )
        else:
            cache = Path(st.run.paths.prepared).parent / "cache"  # as Stage.prepared: next to paths.prepared
            prep, where = ensure_prepared(st.run.data, prepared_dir=st.run.paths.prepared, cache_root=cache)
            print(
                f"[prepare] {where}: vocab {prep.vocab_size}, "
                + ", ".join(f"{k} {len(v) - 1:,} tokens" for k, v in prep.splits.items())
            )


if __name__ == "__main__":
    main()
