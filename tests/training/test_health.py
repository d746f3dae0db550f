"""Network-health statistics: each measure against a direct NumPy computation, a saturated net reported as such,
and a run's numbers unchanged by recording them."""

import math

import numpy as np
import pandas as pd
import pytest

from lmladder.io import load_checkpoint
from lmladder.models import build_model
from lmladder.nn.optim import SGDSettings
from lmladder.nn.schedules import ScheduleSettings
from lmladder.training import EvalSettings, OptimSettings, TrainSettings, make_rngs, train
from lmladder.training.health import activation_stats, attention_entropy


def test_activation_stats_match_numpy():
    rng = np.random.default_rng(0)
    y = np.tanh(rng.normal(0, 3, (4, 5, 6)))
    mean, std, sat, dead = activation_stats(y, "tanh")
    assert (mean, std) == pytest.approx((y.mean(), y.std()))
    assert sat == pytest.approx(np.mean(np.abs(y) > 0.97)) and math.isnan(dead)
    r = np.maximum(rng.normal(size=(20, 6)), 0)
    r[:, [1, 4]] = 0  # two units never fire
    assert activation_stats(r, "relu")[3] == pytest.approx(2 / 6)
    assert math.isnan(activation_stats(r, "relu")[2])


def test_attention_entropy_matches_a_direct_loop():
    rng = np.random.default_rng(1)
    B, T, H, d = 2, 5, 3, 4
    qkv = rng.normal(size=(B, T, 3 * H * d))
    want = np.zeros(H)
    for b in range(B):
        for h in range(H):
            for t in range(T):
                q = qkv[b, t, h * d : (h + 1) * d]
                k = qkv[b, : t + 1, H * d + h * d : H * d + (h + 1) * d]
                s = k @ q / math.sqrt(d)
                p = np.exp(s - s.max()) / np.exp(s - s.max()).sum()
                want[h] += -(p * np.log(p)).sum() / (B * T)
    assert attention_entropy(qkv, H) == pytest.approx(want)
    uniform = attention_entropy(np.zeros((1, T, 3 * H * d)), H)  # equal scores: row t spreads over t + 1 keys
    assert uniform == pytest.approx(np.full(H, np.mean(np.log(np.arange(1, T + 1)))))


def _train(data, out, rung="mlp", optim=None, scale=1.0, **kw):
    rngs = make_rngs(0)
    sizes = dict(context=3, n_embd=8, n_hidden=32) if rung == "mlp" else dict(block_size=16, n_layer=2, n_head=2)
    model = build_model(rung, data=data, rng=rngs["model"], **sizes)
    for p in model.parameters():
        if p.data.ndim == 2:
            p.data *= scale
    base = dict(max_iters=6, batch_size=8, seq_len=16, eval=EvalSettings(interval=3, iters=2), progress=False)
    settings = TrainSettings(**{**base, **kw})
    optim = optim or OptimSettings(lr=3e-3)
    train(model, data, optim=optim, train=settings, rngs=rngs, out_dir=out, log=lambda *_: None)
    return model


def test_a_tanh_net_built_to_saturate_is_reported_saturated(tiny_names, tmp_path):
    _train(tiny_names, tmp_path / "hot", scale=30.0, health_interval=1)
    _train(tiny_names, tmp_path / "calm", health_interval=1)
    hot = pd.read_csv(tmp_path / "hot" / "health_act.tsv", sep="\t")
    calm = pd.read_csv(tmp_path / "calm" / "health_act.tsv", sep="\t")
    assert sorted(hot.step.unique()) == list(range(6)) and set(hot.layer) == {"hidden.1"}
    assert hot.saturated.min() > 0.8 and calm.saturated.max() < 0.3


def test_gpt_health_has_gelu_dead_units_and_attention_entropy(tiny_names, tmp_path):
    _train(tiny_names, tmp_path, rung="transformer", health_interval=2)
    act = pd.read_csv(tmp_path / "health_act.tsv", sep="\t")
    attn = pd.read_csv(tmp_path / "health_attn.tsv", sep="\t")
    assert set(act.step) == {0, 2, 4} and act.dead.between(0, 1).all() and act.saturated.isna().all()
    assert len(attn) == 3 * 2 * 2  # steps x layers x heads
    assert (attn.entropy >= 0).all() and (attn.entropy <= math.log(16)).all()


def test_the_modern_gpt_records_the_attention_it_computes(tiny_names):
    """Rotary positions, QK-norm, shared key/value heads and value embeddings change what attention reads: the
    entropy comes from that (B, T, 3C), not from c_attn's raw (B, T, (H + 2 H_kv) d) output (which crashed)."""
    from lmladder.autograd import functional as F
    from lmladder.training.health import capture

    modern = dict(pos="rope", qk_norm=True, n_kv_head=1, value_embeds=True)
    model = build_model("transformer", data=tiny_names, rng=make_rngs(0)["model"], block_size=16, n_layer=2,
                        n_head=2, **modern)  # fmt: skip
    seen, read = [], []
    attend = F.causal_self_attention
    F.causal_self_attention = lambda qkv, *a, **k: (read.append(qkv.data.copy()), attend(qkv, *a, **k))[1]
    try:
        with capture(model, lambda *a: None, lambda name, h, qkv: seen.append((h, qkv))):
            model(np.asarray(tiny_names.splits["train"][:32]).reshape(2, 16))
    finally:
        F.causal_self_attention = attend
    assert len(seen) == len(read) == 2 and all(np.array_equal(q, r) for (_, q), r in zip(seen, read, strict=True))
    assert all(attention_entropy(q, h).shape == (2,) for h, q in seen)


def test_param_stats_match_a_direct_computation(tiny_names, tmp_path):
    """With plain SGD the applied update is -lr * grad: update_data = log10(lr * std(g) / std(w))."""
    sgd = OptimSettings(
        name="sgd",
        lr=0.1,
        sgd=SGDSettings(momentum=0.0),
        schedule=ScheduleSettings(name="constant"),
        weight_decay=0.0,
        grad_clip=None,
    )
    _train(tiny_names, tmp_path, optim=sgd, max_iters=1, health_interval=1)
    rows = pd.read_csv(tmp_path / "health_params.tsv", sep="\t").set_index("param")
    assert (rows.update_data - np.log10(0.1 * rows.grad_std / (rows.grad_std / rows.grad_data))).abs().max() < 1e-4


def test_recording_changes_no_bit_of_the_run(tiny_names, tmp_path):
    _train(tiny_names, tmp_path / "on", rung="transformer", health_interval=1)
    _train(tiny_names, tmp_path / "off", rung="transformer", health_interval=0)
    on, _ = load_checkpoint(tmp_path / "on" / "model.safetensors")
    off, _ = load_checkpoint(tmp_path / "off" / "model.safetensors")
    assert on.keys() == off.keys() and all(np.array_equal(on[k], off[k]) for k in on)
    assert not (tmp_path / "off" / "health_act.tsv").exists()


def test_the_summary_reads_the_last_health_step_and_counts_clips(tiny_names, tmp_path):
    from lmladder.training.health import summarize

    _train(tiny_names, tmp_path, rung="transformer", health_interval=2)
    s = summarize(tmp_path, grad_clip=1e-6)  # every step's norm is above it
    act = pd.read_csv(tmp_path / "health_act.tsv", sep="\t")
    assert s["clip_events"] == 6 and summarize(tmp_path, grad_clip=None)["clip_events"] == 0
    assert s["dead_max"] == act[act.step == 4].dead.max() and s["saturated_max"] is None  # GELU: no tanh layer
    assert s["attn_entropy_min"] == pd.read_csv(tmp_path / "health_attn.tsv", sep="\t").query("step == 4").entropy.min()


def test_the_report_writes_a_health_table(tmp_path):
    import json

    from lmladder.reports.collect import collect
    from lmladder.reports.tables import write_report

    for seed, sat in ((0, 0.25), (1, 0.35)):
        run = tmp_path / "outputs" / "mlp" / f"seed{seed}"
        run.mkdir(parents=True)
        (run / "metrics.json").write_text(json.dumps({"val": {"nll": 2.0 + seed}, "params": 10}))
        health = {
            "clip_events": 3,
            "saturated_max": sat,
            "dead_max": None,
            "update_data": -3.1,
            "attn_entropy_min": None,
        }
        (run / "health.json").write_text(json.dumps(health))
    write_report(collect(tmp_path / "outputs"), tmp_path / "report", title="t")
    md = (tmp_path / "report" / "health.md").read_text()
    assert "tanh saturated (max layer)" in md and "0.300 ± 0.071" in md and "-3.10 ± 0.00" in md
    assert "saturated" not in (tmp_path / "report" / "perplexity.csv").read_text()
