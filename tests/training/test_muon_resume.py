"""A GPT trained by Muon with every option of issue 49 on (split q/k/v with grouped key/value heads, the matrices'
own cautious decay, the momentum warm-up, Polar Express) resumes mid-warm-up to the same bits, and the options
change the run (each is wired through to the update)."""

import numpy as np

from lmladder.io import load_checkpoint
from lmladder.models import build_model
from lmladder.nn.muon import MuonSettings
from lmladder.nn.schedules import ScheduleSettings
from lmladder.training import CheckpointSettings, EvalSettings, OptimSettings, TrainSettings, make_rngs, train

OPTIONS = dict(split_qkv=True, weight_decay=0.1, cautious_wd=True, momentum_warmup=20)  # MuonSettings
GPT = dict(block_size=16, n_layer=2, n_head=2, n_kv_head=1, n_embd=16, dropout=0.1, qk_norm=True, pos="rope")


def run(data, out, stop_at=None, resume=None, **options):
    rngs = make_rngs(0)
    model = build_model("transformer", data=data, rng=rngs["model"], **GPT)
    muon = MuonSettings(lr=0.03, ns_coeffs="polar_express", **options)
    optim = OptimSettings(name="muon", lr=3e-3, weight_decay=0.0, muon=muon,
                          schedule=ScheduleSettings(name="wsd", warmup_iters=3))  # fmt: skip
    s = TrainSettings(max_iters=30, batch_size=4, seq_len=16, eval=EvalSettings(interval=15, iters=2),
                      checkpoint=CheckpointSettings(interval=15), grad_stats_interval=15, progress=False,
                      dvclive=False)  # fmt: skip
    train(model, data, optim=optim, train=s, rngs=rngs, out_dir=out, stop_at=stop_at, resume=resume,
          log=lambda *_: None)  # fmt: skip
    return load_checkpoint(out / "model.safetensors")[0]


def test_resume_mid_warm_up_is_bitwise_identical(tiny_names, tmp_path):
    straight = run(tiny_names, tmp_path / "straight", **OPTIONS)
    run(tiny_names, tmp_path / "split", stop_at=15, **OPTIONS)
    resumed = run(tiny_names, tmp_path / "split", resume=tmp_path / "split" / "model.safetensors", **OPTIONS)
    assert sorted(straight) == sorted(resumed)
    for k in straight:
        assert straight[k].tobytes() == resumed[k].tobytes(), k


def test_each_option_changes_the_update(tiny_names, tmp_path):
    c_attn = "model.blocks.0.attn.c_attn.weight"
    wd = {"weight_decay": 0.1}
    pairs = [({}, {"split_qkv": True}), ({}, {"momentum_warmup": 20}), ({}, wd),
             (wd, {**wd, "cautious_wd": True})]  # fmt: skip
    runs = {}
    for options in (o for pair in pairs for o in pair):
        key = tuple(sorted(options.items()))
        if key not in runs:
            runs[key] = run(tiny_names, tmp_path / str(len(runs)), **options)[c_attn]
    for base, changed in pairs:
        a, b = runs[tuple(sorted(base.items()))], runs[tuple(sorted(changed.items()))]
        assert np.abs(a - b).max() > 1e-5, changed
