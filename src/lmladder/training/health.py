"""Network health, every `health_interval` steps (Zero-to-Hero part 3's diagnostics), as TSV that `dvc plots` draws:

    health_act.tsv     step, layer, mean, std, saturated, dead      per activation module (tanh/relu/gelu), forward
    health_params.tsv  step, param, grad_mean, grad_std, grad_data, update_data      per parameter
    health_attn.tsv    step, layer, head, entropy                   per attention head (nats; log T = uniform)

saturated: the fraction of tanh outputs with |x| > 0.97 (their gradient is < 6% of its maximum); dead: the
fraction of ReLU/GELU units not positive for any row of the batch. grad_data = std(grad) / std(weight);
update_data = log10(std(applied update) / std(weight)), whose guide is -3 (Karpathy: updates ~1e-3 of the data).
Clip events need no file of their own: train_log.tsv's grad_norm is the norm before clipping.

Recording costs nothing between health steps: on a health step the activation modules and attention projections
get an instance `forward` that takes statistics of what passes through (Module.__call__ looks `forward` up on
the instance), and the weights are copied before the update. Statistics are read, never fed back: a run's
numbers are the same with or without them.
"""

from __future__ import annotations

import contextlib
import math
from pathlib import Path
from typing import Any

import numpy as np

from .. import nn
from ..models.base import LanguageModel
from .logs import TsvLog

SATURATED = 0.97  # |tanh| above this: saturated (Zero-to-Hero part 3)
FILES = {
    "health_act.tsv": ["step", "layer", "mean", "std", "saturated", "dead"],
    "health_params.tsv": ["step", "param", "grad_mean", "grad_std", "grad_data", "update_data"],
    "health_attn.tsv": ["step", "layer", "head", "entropy"],
}


def activation_stats(y: np.ndarray, kind: str) -> tuple[float, float, float, float]:
    """(mean, std, saturated, dead) of an activation output (..., units); NaN where the measure does not apply."""
    units = y.reshape(-1, y.shape[-1])  # (rows, units)
    saturated = float(np.mean(np.abs(units) > SATURATED)) if kind == "tanh" else math.nan
    dead = float(1 - np.mean((units > 0).any(axis=0))) if kind in ("relu", "gelu") else math.nan
    return float(units.mean()), float(units.std()), saturated, dead


def attention_probs(qkv: np.ndarray, n_head: int) -> np.ndarray:
    """(B, H, T, T) causal attention weights (float64) recomputed from the qkv attention reads (B, T, 3C)."""
    B, T, C3 = qkv.shape
    heads = qkv.astype(np.float64).reshape(B, T, 3, n_head, C3 // (3 * n_head)).transpose(2, 0, 3, 1, 4)
    q, k = heads[0], heads[1]  # (B, H, T, d)
    scores = q @ k.transpose(0, 1, 3, 2) / math.sqrt(q.shape[-1])  # (B, H, T, T)
    scores = np.where(np.tri(T, dtype=bool), scores, -np.inf)
    p = np.exp(scores - scores.max(axis=-1, keepdims=True))
    return p / p.sum(axis=-1, keepdims=True)


def attention_entropy(qkv: np.ndarray, n_head: int) -> np.ndarray:
    """(H,) mean entropy (nats) of each head's causal attention rows, from the qkv attention reads (B, T, 3C)."""
    p = attention_probs(qkv, n_head)
    ent = -(p * np.log(np.where(p > 0, p, 1))).sum(axis=-1)  # (B, H, T); 0 log 0 = 0
    return ent.mean(axis=(0, 2))


def _kind(m: nn.Module) -> str | None:
    return next((k for c, k in ((nn.Tanh, "tanh"), (nn.ReLU, "relu"), (nn.GELU, "gelu")) if isinstance(m, c)), None)


def grad_stats(model: LanguageModel, step: int, lr: float) -> list[list[Any]]:
    """grad_stats.tsv's rows: per parameter, gradient and weight norms, lr * |g| / |w| and the largest |g|."""
    rows = []
    for name, p in model.named_parameters():
        if p.grad is None:
            continue
        g, w = float(np.linalg.norm(p.grad)), float(np.linalg.norm(p.data))
        rows.append([step, name, g, w, lr * g / (w + 1e-12), float(np.abs(p.grad).max())])
    return rows


def probes(model: nn.Module) -> tuple[list, list]:
    """([(name, module, kind)] of the activation modules, [(name, attention module)]) of `model`."""
    mods = list(model.named_modules())
    acts = [(n, m, k) for n, m in mods if (k := _kind(m))]
    attns = [(n, m) for n, m in mods if hasattr(m, "n_head") and callable(getattr(m, "qkv", None))]
    return acts, attns


@contextlib.contextmanager
def capture(model: nn.Module, on_act, on_attn):
    """Inside: every activation module's output goes to on_act(name, kind, y) and the queries, keys and values
    every attention module reads (its `qkv`, (B, T, 3C)) to on_attn(name, n_head, qkv), as arrays (calls look the
    methods up on the instance first)."""
    acts, attns = probes(model)
    patched = []
    for name, m, kind in acts:
        patched.append((m, "forward"))
        m.forward = _recording(m, "forward", lambda y, name=name, kind=kind: on_act(name, kind, y))
    for name, m in attns:
        patched.append((m, "qkv"))
        m.qkv = _recording(m, "qkv", lambda y, name=name, h=m.n_head: on_attn(name, h, y))
    try:
        yield
    finally:
        for m, method in patched:
            delattr(m, method)  # back to the class's method


def _recording(m: nn.Module, method: str, record):
    call = getattr(type(m), method).__get__(m)

    def recording(*args, **kwargs):
        out = call(*args, **kwargs)
        record(out.data)
        return out

    return recording


class Health:
    def __init__(self, model: LanguageModel, out_dir: Path, truncate_from: int):
        self.model = model
        self.logs = {f: TsvLog(Path(out_dir) / f, cols, truncate_from=truncate_from) for f, cols in FILES.items()}
        self.before: dict[str, np.ndarray] = {}

    @contextlib.contextmanager
    def watch(self, step: int):
        """Record activation and attention statistics of the forward passes run inside (one step's batches)."""
        acts: list = []
        attns: list = []
        with capture(self.model, lambda *a: acts.append(a), lambda *a: attns.append(a)):
            yield
        for name, kind, y in acts:
            self.logs["health_act.tsv"].write([step, name, *activation_stats(y, kind)])
        for name, h, y in attns:
            for head, e in enumerate(attention_entropy(y, h)):
                self.logs["health_attn.tsv"].write([step, name, head, float(e)])

    def before_update(self) -> None:
        self.before = {n: p.data.copy() for n, p in self.model.named_parameters() if p.grad is not None}

    def after_update(self, step: int) -> None:
        for name, p in self.model.named_parameters():
            if name not in self.before:
                continue
            w, g = self.before[name], p.grad
            scale = float(w.std()) or 1.0  # a constant tensor (a fresh gain of ones): relative to 1
            update = float((p.data - w).std()) / scale
            row = [step, name, float(g.mean()), float(g.std()), float(g.std()) / scale]
            self.logs["health_params.tsv"].write([*row, math.log10(update) if update > 0 else -math.inf])
        self.before = {}


def _columns(path: Path, *names: str) -> list[np.ndarray]:
    """Numeric columns of a TsvLog file as float arrays ('nan' and 'inf' as written)."""
    head, *rows = (line.split("\t") for line in path.read_text(encoding="utf-8").splitlines())
    return [np.array([float(r[i]) for r in rows]) for i in map(head.index, names)]


def summarize(out_dir: str | Path, grad_clip: float | None) -> dict[str, float | None]:
    """health.json's numbers (the report's health table) from a run's logs: clip events over the whole run
    (train_log.tsv's grad_norm is the norm before clipping), and at the last health step the most saturated tanh
    layer, the deadest ReLU/GELU layer, the median update:data ratio (log10) and the lowest attention entropy."""
    out = Path(out_dir)
    (grad_norm,) = _columns(out / "train_log.tsv", "grad_norm")
    s: dict[str, float | None] = {"clip_events": float((grad_norm > grad_clip).sum()) if grad_clip else 0.0}
    for file, col, key, agg in (
        ("health_act.tsv", "saturated", "saturated_max", np.max),
        ("health_act.tsv", "dead", "dead_max", np.max),
        ("health_params.tsv", "update_data", "update_data", np.median),
        ("health_attn.tsv", "entropy", "attn_entropy_min", np.min),
    ):
        step, value = _columns(out / file, "step", col)
        last = value[step == step.max()] if len(step) else value
        last = last[np.isfinite(last)]  # nan: no such unit in the layer; -inf: a zero update
        s[key] = float(agg(last)) if len(last) else None  # null: no such layer (JSON has no NaN)
    return s
