"""Bengio et al. (2003), "A Neural Probabilistic Language Model", as in makemore: the last `context` tokens are
embedded, concatenated, passed through tanh hidden layer(s), and mapped to next-token logits."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import nn
from ..rules import check_fields, choice, integer, number
from .base import Counts, ModelConfigError, WindowModel, check_ids, hidden_linear, need_vocab, quiet_head


@dataclass
class MLPConfig:
    """The MLP's hyper-parameters: `mlp.model` in conf/, and what its checkpoints store."""

    context: int = integer(3, low=1)  # tokens each prediction sees
    n_embd: int = integer(10, low=1)
    n_hidden: int = integer(200, low=1)
    n_layers: int = integer(1, low=1)  # hidden layers
    activation: str = choice("tanh", tuple(nn.ACTIVATIONS))  # tanh | relu | gelu | gelu_exact
    dropout: float = number(0.0, low=0, below=1, note="0 turns it off")
    vocab_size: int | None = integer(None, low=1, null="(set from the data)")
    pad_id: int = integer(0, low=0)  # from the data: the boundary of a lines corpus, else 0

    def check(self) -> None:
        check_fields(self, ModelConfigError)
        if self.vocab_size is not None:
            check_ids(self, "pad_id")

    def counts(self) -> Counts:
        """Parameters three ways and training FLOPs per token (models/base.py: Counts)."""
        V, E, H, K, L = need_vocab(self), self.n_embd, self.n_hidden, self.context, self.n_layers
        matmul = K * E * H + (L - 1) * H * H + H * V  # hidden layers, then the head
        params = V * E + matmul + L * H + V  # + the lookup table and the biases
        return Counts(params, params - V * E, matmul, 6 * matmul)


class MLP(WindowModel):
    """Position t predicts token t+1 from tokens t-context+1..t (left-padded with pad_id), for every t at once."""

    rung, ladder_position = "mlp", 20
    Config = MLPConfig

    def __init__(self, config: MLPConfig, *, rng: np.random.Generator, dtype=np.float32):
        super().__init__(config, rng=rng, dtype=dtype)
        c = config
        gain = nn.init.calculate_gain(c.activation if c.activation in ("tanh", "relu", "gelu") else "linear")
        layers: list[nn.Module] = []
        fan_in = c.context * c.n_embd
        for _ in range(c.n_layers):
            layers += [hidden_linear(fan_in, c.n_hidden, gain=gain, rng=rng, dtype=dtype), nn.activation(c.activation)]
            if c.dropout > 0:
                layers.append(nn.Dropout(c.dropout, rng=rng))
            fan_in = c.n_hidden
        self.hidden = nn.Sequential(*layers)
        self.head = quiet_head(c.n_hidden, c.vocab_size, 0.01, rng=rng, dtype=dtype)  # initial loss ~ ln(vocab)

    @classmethod
    def min_params(cls, c: MLPConfig) -> float:
        V, E, H, K, L = c.vocab_size, c.n_embd, c.n_hidden, c.context, c.n_layers
        return float(V * E + K * E * H + (L - 1) * (H * H + H) + H * V)

    def forward(self, idx, targets=None, *, last_only=False):
        windows = self.windows(self.check_input(idx, targets, last_only), last_only)  # (B, T, context)
        B, T = windows.shape[:2]
        emb = self.wte(windows)  # (B, T, context, n_embd)
        h = self.hidden(emb.reshape(B, T, -1))  # (B, T, context*n_embd) -> (B, T, n_hidden)
        if last_only:
            h = h[:, -1:]  # (B, T, n_hidden) -> (B, 1, n_hidden)
        logits = self.head(h)  # (B, T, vocab)
        return logits, (self.loss(logits, targets) if targets is not None else None)
