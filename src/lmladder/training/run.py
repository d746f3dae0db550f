"""One training run from start to report: build the rung, fit or train it, score val/test exactly, sample,
and write metrics.json + samples.txt next to the checkpoints. Stages call these with plain arguments."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from ..data.prepared import Prepared
from ..io import atomic_write_json, atomic_write_text
from ..models import LanguageModel, build_model
from .checkpoints import load_training_checkpoint, save_training_checkpoint
from .evaluate import score_tokens
from .loop import BEST, LAST, make_rngs, train
from .sampling import generate
from .settings import OptimSettings, TrainSettings


def pad_id_for(data: Prepared) -> int:
    """Left-padding id: the boundary of a lines corpus (makemore's '.'), else token 0."""
    return data.boundary_id if data.kind == "lines" else 0


def score_splits(model: LanguageModel, data: Prepared, batch_size: int = 32) -> dict[str, dict]:
    """Exact val (and test, when the split has one) scores; see evaluate.py for the estimator."""
    byte_level = data.tokenizer.to_dict().get("type") == "byte"
    scores = {}
    for split in ("val", "test"):
        if split in data.splits:
            toks = data.splits[split]
            n_chars = len(data.tokenizer.decode(np.asarray(toks[1:]))) if byte_level else None
            scores[split] = score_tokens(
                model, toks, kind=data.kind, boundary_id=data.boundary_id, n_chars=n_chars, batch_size=batch_size
            )
    return scores


def sample_text(
    model: LanguageModel,
    data: Prepared,
    rng: np.random.Generator,
    num_samples: int,
    max_tokens: int,
    temperature: float = 1.0,
) -> list[str]:
    """Lines corpora: whole documents (names) from the boundary token; stream: `max_tokens` from a newline."""
    tok = data.tokenizer
    if data.kind == "lines":
        prompt = np.full((num_samples, 1), data.boundary_id)
        rows = generate(model, prompt, max_tokens, rng=rng, temperature=temperature, stop_id=data.boundary_id)
        return [tok.decode(r[r != data.boundary_id]) for r in rows]
    try:
        start = tok.encode("\n")[:1]
    except ValueError:
        start = np.zeros(1, dtype=np.int64)
    rows = generate(model, np.repeat(start[None], num_samples, axis=0), max_tokens, rng=rng, temperature=temperature)
    return [tok.decode(r) for r in rows]


def _write_samples(path: Path, samples: list[str], kind: str) -> None:
    sep = "\n" if kind == "lines" else "\n\n" + "-" * 40 + "\n"
    atomic_write_text(path, sep.join(samples) + "\n")


def run_count_model(
    data: Prepared,
    model_kwargs: dict[str, Any],
    *,
    seed: int,
    out_dir: str | Path,
    meta: dict[str, Any],
    num_samples: int = 20,
    sample_tokens: int = 500,
    temperature: float = 1.0,
) -> dict:
    """Fit the n-gram baseline on the training split and report it like a trained rung."""
    out = Path(out_dir)
    rngs = make_rngs(seed)
    model = build_model(
        "ngram",
        vocab_size=data.tokenizer.vocab_size,
        pad_id=pad_id_for(data),
        boundary_id=data.boundary_id if data.kind == "lines" else None,
        rng=rngs["model"],
        **model_kwargs,
    )
    t0 = time.perf_counter()
    model.fit(np.asarray(data.splits["train"]))
    fit_s = time.perf_counter() - t0
    save_training_checkpoint(out / LAST, model, data.tokenizer, rngs=rngs, step=0, extra=meta)
    metrics = {
        "model": "ngram",
        "seed": seed,
        "params": int(sum(a.size for a in model.state_dict().values())),
        "step": 0,
        **score_splits(model, data),
        "train_time_s": fit_s,
        "tokens_per_s": len(data.splits["train"]) / max(fit_s, 1e-9),
    }
    samples = sample_text(model, data, rngs["sample"], num_samples, sample_tokens, temperature)
    _write_samples(out / "samples.txt", samples, data.kind)
    atomic_write_json(out / "metrics.json", metrics)
    return metrics


def run_neural_model(
    kind: str,
    data: Prepared,
    model_kwargs: dict[str, Any],
    *,
    optim: OptimSettings,
    settings: TrainSettings,
    seed: int,
    out_dir: str | Path,
    meta: dict[str, Any],
    resume: str | Path | None = None,
    block_key: str = "block_size",
    log=print,
) -> dict:
    """Train an MLP or GPT, then score the final and best-val checkpoints exactly and sample from the final one.
    `block_key` names the sequence-length setting in error messages (e.g. "transformer.model.block_size")."""
    out = Path(out_dir)
    rngs = make_rngs(seed)
    model = build_model(
        kind, vocab_size=data.tokenizer.vocab_size, pad_id=pad_id_for(data), rng=rngs["model"], **model_kwargs
    )
    log(f"{kind}: {model.num_parameters():,} parameters")
    res = train(
        model,
        data,
        optim=optim,
        settings=settings,
        rngs=rngs,
        out_dir=out,
        meta=meta,
        resume=resume,
        block_key=block_key,
        log=log,
    )
    metrics: dict[str, Any] = {
        "model": kind,
        "seed": seed,
        "params": model.num_parameters(),
        "step": res.step,
        **score_splits(model, data, settings.eval_batch_size),
        "train_time_s": res.train_time_s,
        "tokens_per_s": res.tokens_per_s,
    }
    if res.best_path is not None:
        best = load_training_checkpoint(res.best_path).model
        metrics["best"] = {
            "step": res.best_step,
            "val_estimate": res.best_val,
            **score_splits(best, data, settings.eval_batch_size),
        }
    samples = sample_text(
        model, data, rngs["sample"], settings.num_samples, settings.sample_tokens, settings.temperature
    )
    _write_samples(out / "samples.txt", samples, data.kind)
    atomic_write_json(out / "metrics.json", metrics)
    return metrics


__all__ = ["run_count_model", "run_neural_model", "score_splits", "sample_text", "pad_id_for", "BEST", "LAST"]
