"""Stage `<rung>`: train one rung of the ladder (fit it, for a count model) with the settings under `<rung>.*`.

    python stages/train.py rung=mlp                        # one run, into outputs/runs/<date>/<time>/
    python stages/train.py -m rung=mlp,transformer seed=0,1,2    # a sweep; `lmladder report` tabulates it
    python stages/train.py -m hydra/sweeper=optuna_mlp            # a search: Optuna minimises what main returns

dvc.yaml runs it once per rung and seed, writing outputs/<rung>/seed<N>/.
"""

import math

import hydra
from omegaconf import DictConfig

from _stage import check_run_dir, entry, join_world, stage
from _sweeps import check_search_space, importable_in_jobs
from lmladder.config import ConfigError, rung_settings, rung_settings_keys
from lmladder.models import rung_class, rungs
from lmladder.training import run_rung
from lmladder.training.live import LiveLog
from lmladder.training.settings import rung_schema


@hydra.main(config_path="../conf", config_name="config", version_base=None)
def main(cfg: DictConfig) -> float:
    """The run's exact val NLL: the objective of a search (hydra/sweeper=optuna_*); plain runs and DVC ignore it."""
    # A job that fails with a project error is marked failed by `stage` and returns: it scores +inf, so a search
    # goes on and steers away from it (None or NaN would make hydra-optuna-sweeper 1.3 log a misleading error,
    # or, for NaN, stop the whole search).
    val_nll = math.inf
    with stage(str(cfg.get("rung") or "train"), cfg) as st:
        rung = st.run.rung
        if rung is None:
            raise ConfigError(
                f"rung is not set; choose one of {', '.join(rungs())}, e.g. python stages/train.py rung=mlp"
            )
        cls = rung_class(rung)
        settings = rung_settings(cfg, rung, rung_schema(cls))
        st.keys.update(rung_settings_keys(rung, settings))
        out = st.out_dir()
        parts = {k: getattr(settings, k) for k in ("sample", "optim", "train") if hasattr(settings, k)}
        where = st.live_dir(on=parts["train"].dvclive if "train" in parts else True, key=f"{rung}.train.dvclive")
        params = {"rung": rung, "seed": st.run.seed, "data": st.raw.get("data"), rung: st.raw.get(rung)}
        live = LiveLog(where, params) if where else None
        m = run_rung(
            cls,
            settings.model,
            st.prepared(),
            **parts,
            seed=st.run.seed,
            out_dir=out,
            meta=st.meta(),
            resume=st.resume_path(out),
            world=st.world,
            reshard=st.run.reshard,
            live=live,
        )
        out = st.publish()
        if not st.world.lead:
            return
        t = m["train_time_s"]  # NaN: a resume that found no timing of the steps before it
        took = f"in {t:.1f}s" if math.isfinite(t) else "(training time unknown: resumed without timing.json)"
        print(f"[{rung}] val NLL {m['val']['nll']:.4f} (ppl {m['val']['ppl']:.3f}) {took} -> {out}")
        if n := m["val"].get("impossible_tokens"):
            never = f"the model gives {n:,} val tokens probability 0 (n-grams never seen in train)"
            print(f"[{rung}] val NLL is infinite: {never}; smooth it (a k > 0, or smoothing=kneser_ney)")
        val_nll = m["val"]["nll"]
    return val_nll


if __name__ == "__main__":
    with entry("train"):
        check_run_dir("train")
        join_world("train")
        check_search_space("train")
        importable_in_jobs()
        main()
