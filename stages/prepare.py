"""Stage `prepare`: read the corpus, build the vocabulary, split and write token arrays."""

from lmladder.interrupt import quietly

with quietly():  # a Ctrl-C while the modules below load: one line and exit 130, not a traceback
    from pathlib import Path

    import hydra
    from omegaconf import DictConfig

    from lmladder.app.policy import stage
    from lmladder.app.startup import check_renamed, check_run_dir, entry
    from lmladder.data import ensure_prepared, prepare


def _summary(stats: dict) -> str:
    """tokenizer, vocabulary and tokens per split, with the share of unknown tokens where there are any."""
    splits = stats["splits"]
    unk = {k: v.get("unk_rate", 0.0) for k, v in splits.items()}
    parts = [f"{k} {v['predicted_tokens']:,} tokens" + (f" ({unk[k]:.1%} unknown)" if unk[k] else "")
             for k, v in splits.items()]  # fmt: skip
    return f"{stats.get('tokenizer_label', stats['tokenizer'])} vocab {stats['vocab_size']:,}, " + ", ".join(parts)


@hydra.main(config_path="../conf", config_name="config", version_base=None)
def main(cfg: DictConfig) -> None:
    with stage("prepare", cfg) as st:
        if st.dvc:
            stats = prepare(st.run.data, st.run.paths.prepared)
            print(f"[prepare] {st.run.paths.prepared}: {stats['source']}, {_summary(stats)}")
        else:
            cache = Path(st.run.paths.prepared).parent / "cache"  # as Stage.prepared: next to paths.prepared
            prep, where = ensure_prepared(st.run.data, prepared_dir=st.run.paths.prepared, cache_root=cache)
            print(f"[prepare] {where}: {_summary(prep.stats)}")


if __name__ == "__main__":
    with entry("prepare"):
        check_renamed("prepare")
        check_run_dir("prepare")
        main()
