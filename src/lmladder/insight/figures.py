"""The pictures of `lmladder inspect`, one function each: plain arrays and tables in, a matplotlib Figure out.
Zero-to-Hero's diagnostics (parts 2 and 3) and makemore's bigram heat map, drawn the same way for every rung."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

GUIDE = -3.0  # log10 update:data ratio that Zero-to-Hero marks as healthy


class NotApplicable(Exception):
    """This picture does not apply to this model (the message says why); the page notes it in the picture's place."""


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def close_all() -> None:
    """Free the figures a picture that failed half-way left open."""
    _plt().close("all")


def loss_curves(train_log: pd.DataFrame | None, eval_log: pd.DataFrame | None):
    """Per-step training loss (light) and the train/val estimates of eval_log.tsv (with weight averaging, the
    average's, and the trained weights' val estimate dashed)."""
    fig, ax = _plt().subplots(figsize=(8, 4))
    if train_log is not None and len(train_log):
        ax.plot(train_log.step, train_log.loss, color="0.75", lw=0.8, label="train loss (each step)")
    if eval_log is not None and len(eval_log):
        ax.plot(eval_log.step, eval_log.train_loss, "o-", color="tab:blue", label="train (estimate)")
        averaged = "raw_val_loss" in eval_log
        ax.plot(eval_log.step, eval_log.val_loss, "o-", color="tab:orange",
                label="val (estimate, averaged weights)" if averaged else "val (estimate)")  # fmt: skip
        if averaged:
            ax.plot(eval_log.step, eval_log.raw_val_loss, "o--", color="tab:red", label="val (trained weights)")
    ax.set(xlabel="step", ylabel="loss (nats per token)", title="Loss during training")
    ax.legend()
    ax.grid(alpha=0.3)
    return fig


def histograms(arrays: list[tuple[str, np.ndarray]], title: str, xlabel: str, note=None):
    """One density curve per layer (Zero-to-Hero part 3's histograms); `note(name, a)` labels each curve."""
    fig, ax = _plt().subplots(figsize=(8, 4))
    for name, a in arrays:
        a = a.ravel().astype(np.float64)
        counts, edges = np.histogram(a, bins=60, density=True)
        label = f"{name}: mean {a.mean():+.3f}, std {a.std():.3f}" + (f", {note(name, a)}" if note else "")
        ax.plot((edges[:-1] + edges[1:]) / 2, counts, label=label)
    ax.set(xlabel=xlabel, ylabel="density", title=title)
    ax.legend(fontsize=7)
    return fig


def update_ratios(params: pd.DataFrame):
    """log10(update:data) of every >= 2-D parameter over training, with the 1e-3 guide (Zero-to-Hero part 3)."""
    fig, ax = _plt().subplots(figsize=(8, 4))
    for name, rows in params.groupby("param", sort=False):
        ax.plot(rows.step, rows.update_data.replace(-np.inf, np.nan), lw=1, label=name)
    ax.axhline(GUIDE, color="k", ls="--", lw=1, label="1e-3 guide")
    ax.set(xlabel="step", ylabel="log10 update:data", title="Update:data ratio per parameter")
    ax.legend(fontsize=6, ncol=2)
    return fig


def attention_maps(maps: list[tuple[str, np.ndarray]], labels: list[str]):
    """One panel per (layer, head): rows are query positions, columns the keys they attend to."""
    rows, heads = len(maps), maps[0][1].shape[0]
    fig, axes = _plt().subplots(rows, heads, figsize=(2.4 * heads + 1, 2.4 * rows + 0.5), squeeze=False)
    for r, (name, probs) in enumerate(maps):
        for h in range(heads):
            ax = axes[r][h]
            ax.imshow(probs[h], cmap="Blues", vmin=0, vmax=1)
            ax.set_title(f"{name} head {h}", fontsize=7)
            ticks = range(len(labels)) if len(labels) <= 24 else []
            ax.set_xticks(ticks, [labels[i] for i in ticks], fontsize=6)
            ax.set_yticks(ticks, [labels[i] for i in ticks], fontsize=6)
    fig.tight_layout()
    return fig


def embedding_pca(weight: np.ndarray, labels: list[str]):
    """Token embeddings on their first two principal components, labelled (Zero-to-Hero part 2)."""
    if min(weight.shape) < 2:  # a valid model (n_embd=1, or a vocabulary of one) has no second component
        V, d = weight.shape
        has = f"{d}-dimensional embeddings" if d < 2 else "a vocabulary of one token"
        raise NotApplicable(f"the model has {has}; a 2-D projection needs at least 2 dimensions and 2 tokens")
    x = weight.astype(np.float64) - weight.mean(axis=0)
    _, s, vt = np.linalg.svd(x, full_matrices=False)
    xy = x @ vt[:2].T  # (V, 2)
    share = (s[:2] ** 2).sum() / max((s**2).sum(), 1e-300)
    fig, ax = _plt().subplots(figsize=(7, 7))
    ax.scatter(xy[:, 0], xy[:, 1], s=160 if len(labels) <= 100 else 8, color="tab:blue", alpha=0.3)
    if len(labels) <= 300:  # beyond that the labels are a blot
        for (px, py), lb in zip(xy, labels, strict=True):
            ax.text(px, py, lb, ha="center", va="center", fontsize=8)
    ax.set(title=f"Token embeddings, first two principal components ({share:.0%} of the variance)")
    ax.grid(alpha=0.3)
    return fig


def next_token_table(labels: list[str], top: list[list[tuple[str, float]]]):
    """Along the prompt: at each position, the model's most likely next tokens and their probabilities."""
    k = max((len(t) for t in top), default=1)
    probs = np.array([[p for _, p in t] + [math.nan] * (k - len(t)) for t in top]).T  # (k, T)
    fig, ax = _plt().subplots(figsize=(max(6, 0.6 * len(labels) + 1), 0.5 * k + 1.5))
    ax.imshow(probs, cmap="Greens", vmin=0, vmax=1, aspect="auto")
    for t, col in enumerate(top):
        for r, (tok, p) in enumerate(col):
            ax.text(t, r, f"{tok}\n{p:.2f}", ha="center", va="center", fontsize=6)
    ax.set_xticks(range(len(labels)), labels, fontsize=7)
    ax.set_yticks(range(k), [f"#{r + 1}" for r in range(k)], fontsize=7)
    ax.set(xlabel="after this prompt token", title="Most likely next tokens along the prompt")
    return fig


def transitions(probs: np.ndarray, labels: list[str]):
    """P(next | one token of context) as an image: makemore's bigram heat map, for any rung."""
    fig, ax = _plt().subplots(figsize=(9, 9))
    ax.imshow(probs, cmap="Blues")
    if len(labels) <= 40:
        ax.set_xticks(range(len(labels)), labels, fontsize=7)
        ax.set_yticks(range(len(labels)), labels, fontsize=7)
    ax.set(xlabel="next token", ylabel="context token", title="P(next token | one token of context)")
    return fig


def loss_by_position(curves: dict[str, tuple[np.ndarray, int]]):
    """Mean NLL against the tokens of context seen (log scale), one line per rung, its "context used" marked."""
    fig, ax = _plt().subplots(figsize=(8, 4.5))
    for name, (mean, used) in curves.items():
        ctx = np.arange(1, len(mean) + 1)
        (line,) = ax.plot(ctx, mean, lw=1.2, label=f"{name} (context used: {used})")
        if 1 <= used <= len(mean):
            ax.plot([used], [mean[used - 1]], "o", color=line.get_color())
    ax.set_xscale("log", base=2)
    ax.set(xlabel="tokens of context seen (position + 1)", ylabel="mean NLL (nats per token)",
           title="Loss against position in the context")  # fmt: skip
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, which="both")
    return fig
