"""Bengio et al. (2003), "A Neural Probabilistic Language Model", as in makemore: the last `context` tokens are
embedded, concatenated, passed through tanh hidden layer(s), and mapped to next-token logits."""

from __future__ import annotations

import numpy as np

from .. import nn
from ..autograd import Tensor
from .base import LanguageModel, ModelConfigError, is_size


class MLP(LanguageModel):
    """Position t predicts token t+1 from tokens t-context+1..t (left-padded with pad_id), for every t at once.

    For a lines corpus pad_id is the boundary token, so the first prediction of a word sees
    [boundary]*context exactly as makemore's `X = [0, 0, 0]`.
    """

    kind = "mlp"

    def __init__(
        self,
        vocab_size: int,
        context: int = 3,
        n_embd: int = 10,
        n_hidden: int = 200,
        n_layers: int = 1,
        activation: str = "tanh",
        dropout: float = 0.0,
        pad_id: int = 0,
        *,
        rng: np.random.Generator,
        dtype=np.float32,
    ):
        for name, v in (
            ("vocab_size", vocab_size),
            ("context", context),
            ("n_embd", n_embd),
            ("n_hidden", n_hidden),
            ("n_layers", n_layers),
        ):
            if not is_size(v):
                raise ModelConfigError(f"MLP: {name} must be a positive integer, got {v!r}; fix mlp.model.{name}")
        if not 0 <= pad_id < vocab_size:
            raise ModelConfigError(f"MLP: pad_id {pad_id} outside the vocabulary [0, {vocab_size})")
        self.vocab_size, self.context, self.pad_id = vocab_size, context, pad_id
        self._kwargs = dict(
            vocab_size=vocab_size,
            context=context,
            n_embd=n_embd,
            n_hidden=n_hidden,
            n_layers=n_layers,
            activation=activation,
            dropout=dropout,
            pad_id=pad_id,
        )
        self.block_size = None  # any length: each position only looks at its own `context` window
        self.wte = nn.Embedding(vocab_size, n_embd, rng=rng, dtype=dtype)
        gain = nn.init.calculate_gain(activation if activation in ("tanh", "relu", "gelu") else "linear")
        layers: list[nn.Module] = []
        fan_in = context * n_embd
        for _ in range(n_layers):
            lin = nn.Linear(fan_in, n_hidden, rng=rng, dtype=dtype)
            # Kaiming init with the activation's gain keeps tanh out of saturation at step 0
            lin.weight.data[...] = nn.init.kaiming_normal(rng, lin.weight.shape, gain=gain, dtype=dtype)
            lin.bias.data[...] = 0
            layers += [lin, nn.activation(activation)]
            if dropout > 0:
                layers.append(nn.Dropout(dropout, rng=rng))
            fan_in = n_hidden
        self.hidden = nn.Sequential(*layers)
        self.head = nn.Linear(n_hidden, vocab_size, rng=rng, dtype=dtype)
        self.head.weight.data *= 0.01  # near-uniform first predictions: initial loss ~ ln(vocab_size)
        self.head.bias.data[...] = 0

    def config(self) -> dict:
        return dict(self._kwargs)

    def windows(self, idx: np.ndarray) -> np.ndarray:
        """(B, T) ids -> (B, T, context) ids: row t holds tokens t-context+1..t, left-padded with pad_id."""
        B, T = idx.shape
        padded = np.concatenate([np.full((B, self.context - 1), self.pad_id, dtype=idx.dtype), idx], axis=1)
        offsets = np.arange(T)[:, None] + np.arange(self.context)  # (T, context): window t covers t..t+context-1
        return padded[:, offsets]  # (B, T + context - 1) -> (B, T, context); cheaper than sliding_window_view

    def forward(self, idx, targets=None):
        idx = self.check_input(idx)
        B, T = idx.shape
        emb = self.wte(self.windows(idx))  # (B, T, context, n_embd)
        h = self.hidden(emb.reshape(B, T, -1))  # (B, T, context*n_embd) -> (B, T, n_hidden)
        logits = self.head(h)  # (B, T, vocab)
        return logits, (self.loss(logits, targets) if targets is not None else None)


_ = Tensor  # re-exported type for annotations in callers
