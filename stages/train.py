"""Stage `<rung>`: train one rung of the ladder (fit it, for a count model) with the settings under `<rung>.*`.

    python stages/train.py rung=mlp                        # one run, into outputs/runs/<date>/<time>/
    python stages/train.py -m rung=mlp,transformer seed=0,1,2    # a sweep; `lmladder report` tabulates it
    python stages/train.py -m hydra/sweeper=optuna_mlp            # a search: Optuna minimises what main returns

dvc.yaml runs it once per rung and seed, writing outputs/<rung>/seed<N>/.
"""

from lmladder.interrupt import quietly

with quietly():  # a Ctrl-C while the modules below load: one line and exit 130, not a traceback
    import math

    import hydra
    from omegaconf import DictConfig

    from lmladder.app.policy import stage
    from lmladder.app.runs import training_run
    from lmladder.app.startup import check_renamed, check_run_dir, entry, join_world
    from lmladder.app.sweeps import check_search_space
    from lmladder.training import run_rung
    from lmladder.training.mfu import run_speed


@hydra.main(config_path="../conf", config_name="config", version_base=None)
def main(cfg: DictConfig) -> float:
    """The run's exact val NLL: the objective of a search (hydra/sweeper=optuna_*); plain runs and DVC ignore it."""
    # A job that fails with a project error is marked failed by `stage` and returns: it scores +inf, so a search
    # goes on and steers away from it (None or NaN would make hydra-optuna-sweeper 1.3 log a misleading error,
    # or, for NaN, stop the whole search).
    val_nll = math.inf
    with stage("train", cfg) as st:
        run = training_run(st)
        m = run_rung(run)
        out = st.publish()
        if not st.world.lead:
            return val_nll
        t = m["train_time_s"]  # NaN: a resume that found no timing of the steps before it
        took = f"in {t:.1f}s" if math.isfinite(t) else "(training time unknown: resumed without timing.json)"
        if speed := run_speed(run, m["tokens_per_s"]):  # after the run: its peak measurement changes no bits
            took += f" ({speed})"
        print(f"[{st.name}] val NLL {m['val']['nll']:.4f} (ppl {m['val']['ppl']:.3f}) {took} -> {out}")
        if n := m["val"].get("impossible_tokens"):
            never = f"the model gives {n:,} val tokens probability 0 (n-grams never seen in train)"
            print(f"[{st.name}] val NLL is infinite: {never}; smooth it (a k > 0, or smoothing=kneser_ney)")
        val_nll = m["val"]["nll"]
    return val_nll


if __name__ == "__main__":
    with entry("train"):
        check_run_dir("train")
        check_renamed("train")
        join_world("train")
        check_search_space("train")
        main()
