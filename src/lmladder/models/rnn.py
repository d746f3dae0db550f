"""Recurrent language models (makemore's RNN and GRU rungs): token embeddings run through stacked recurrent
layers, and a linear head reads every hidden state. Elman (1990), "Finding Structure in Time" (tanh RNN); Cho et
al. (2014), "Learning Phrase Representations using RNN Encoder-Decoder" (GRU); Hochreiter & Schmidhuber (1997),
"Long Short-Term Memory", with the forget gate of Gers et al. (2000) (LSTM).

The cells compute PyTorch's equations (not makemore's own cells) with its weight layout (layer k's weight_ih_l{k},
weight_hh_l{k}, bias_ih_l{k}, bias_hh_l{k}), so the weights load 1:1 into torch.nn.RNN / GRU / LSTM. Each layer
also learns its start state (makemore's `start`); to torch that is the h0 (and c0) passed in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .. import nn
from ..autograd import functional as F
from ..autograd import getitem, is_grad_enabled, stack
from ..autograd.engine import Tensor
from ..rules import block, check_fields, check_groups, choice, integer, nest, number
from .base import Counts, LanguageModel, ModelConfigError, need_vocab, quiet_head

# cell -> (gates per hidden unit, state width in hidden units: the LSTM carries [h, c])
CELLS = {"rnn": (1, 1), "gru": (3, 1), "lstm": (4, 2)}
STEPS = {"rnn": F.rnn_cell, "gru": F.gru_cell, "lstm": F.lstm_cell}


@dataclass
class LSTMConfig:
    """The LSTM cell's own settings (cell=lstm)."""

    # the forget gate's initial bias (b_ih + b_hh of its gate), so c is mostly kept at first and gradients reach far
    # back (Gers et al., 2000; Jozefowicz et al., 2015); 0 is PyTorch's plain init
    forget_bias: float = number(1.0, note="1.0 is usual, 0 is PyTorch's init")

    def check(self) -> None:
        check_fields(self, ModelConfigError)


@dataclass
class RNNConfig:
    """The recurrent model's hyper-parameters: `rnn.model` in conf/, and what its checkpoints store."""

    cell: str = choice("gru", tuple(CELLS))  # rnn (Elman, tanh) | gru | lstm
    n_embd: int = integer(64, low=1)
    n_hidden: int = integer(64, low=1)  # hidden state width of every layer
    n_layer: int = integer(1, low=1)
    # on every layer's outputs: between layers (torch.nn.GRU's dropout=) and before the head
    dropout: float = number(0.0, low=0, below=1, note="0 turns it off")
    lstm: LSTMConfig = block(LSTMConfig)
    vocab_size: int | None = integer(None, low=1, null="(set from the data)")

    def __post_init__(self):
        nest(self)

    def check(self) -> None:
        check_fields(self, ModelConfigError)
        check_groups(self, ModelConfigError)

    def counts(self) -> Counts:
        """Parameters three ways and training FLOPs per token (models/base.py: Counts). Layer 0's input projection
        is counted per token, as the model it computes (x W_ih), though forward gathers it from a (V, G) table."""
        V, E, H, L = need_vocab(self), self.n_embd, self.n_hidden, self.n_layer
        gates, width = CELLS[self.cell]
        G = gates * H
        matmul = G * E + (L - 1) * G * H + L * G * H + H * V  # W_ih of each layer, W_hh of each, the head
        params = V * E + matmul + L * (2 * G + width * H) + V  # + the lookup, both biases and start state, head bias
        return Counts(params, params - V * E, matmul, 6 * matmul)


class RNNState:
    """Every layer's state after the tokens fed so far: the decoding extension of the contract (`new_cache`)."""

    def __init__(self, states: list[np.ndarray]):
        self.states = states  # per layer (B, S): h, or [h, c] for the LSTM


class Recurrent(nn.Module):
    """One recurrent layer: torch's weights of layer k and a learned (1, S) start state."""

    def __init__(self, c: RNNConfig, n_in: int, rng, dtype):
        gates, width = CELLS[c.cell]
        H, G = c.n_hidden, gates * c.n_hidden
        bound = 1 / math.sqrt(H)  # torch.nn.RNN/GRU/LSTM's init: U(-1/sqrt(H), 1/sqrt(H)) for every weight
        self.weight_ih = nn.Parameter(nn.init.uniform(rng, (G, n_in), -bound, bound, dtype))
        self.weight_hh = nn.Parameter(nn.init.uniform(rng, (G, H), -bound, bound, dtype))
        self.bias_ih = nn.Parameter(nn.init.uniform(rng, (G,), -bound, bound, dtype))
        self.bias_hh = nn.Parameter(nn.init.uniform(rng, (G,), -bound, bound, dtype))
        if c.cell == "lstm":  # gates i, f, g, o: the forget gate's two biases sum to lstm.forget_bias
            self.bias_ih.data[H : 2 * H] = c.lstm.forget_bias
            self.bias_hh.data[H : 2 * H] = 0
        self.start = nn.Parameter(nn.init.zeros((1, width * H), dtype))
        self.step = STEPS[c.cell]

    def forward(self, xgs: list[Tensor], state: Tensor | None) -> list[Tensor]:
        """The states after each step, from the input gates of each step: T x (B, G) -> T x (B, S)."""
        s = self.start if state is None else state
        out = []
        for xg in xgs:  # backpropagation through time: every step is one node of the graph
            s = self.step(xg, s, self.weight_hh, self.bias_hh)
            out.append(s)
        return out


class RNN(LanguageModel):
    """Position t predicts token t+1 from the hidden state after tokens 0..t: any length, state carried along."""

    rung, ladder_position = "rnn", 50
    Config = RNNConfig
    renamed = {"forget_bias": ("lstm.forget_bias", "the LSTM cell's own settings are one group")}
    steps_in_turn = True

    def __init__(self, config: RNNConfig, *, rng: np.random.Generator, dtype=np.float32):
        super().__init__(config)
        c = config
        self.block_size = None  # any length: the state summarises the whole prefix
        self.cell, self.n_hidden, self.dropout, self.rng = c.cell, c.n_hidden, c.dropout, rng
        self.wte = nn.Embedding(c.vocab_size, c.n_embd, rng=rng, dtype=dtype)
        self.layers = nn.ModuleList(Recurrent(c, c.n_hidden if k else c.n_embd, rng, dtype) for k in range(c.n_layer))
        self.head = quiet_head(c.n_hidden, c.vocab_size, 0.01, rng=rng, dtype=dtype)  # initial loss ~ ln(vocab)

    @classmethod
    def stored_config(cls, fields: dict) -> RNNConfig:
        """A file written before the LSTM's group holds its forget_bias as a field of its own."""
        fields = dict(fields)
        if "forget_bias" in fields and "lstm" not in fields:
            fields["lstm"] = {"forget_bias": fields.pop("forget_bias")}
        return RNNConfig(**fields)

    @classmethod
    def min_params(cls, c: RNNConfig) -> float:
        G, H, L = CELLS[c.cell][0] * c.n_hidden, c.n_hidden, c.n_layer
        return float(c.vocab_size * c.n_embd + G * (c.n_embd + H) + (L - 1) * G * 2 * H + H * c.vocab_size)

    def new_cache(self, batch: int) -> RNNState:
        """The start states of a batch, for decoding one token per forward (sampling)."""
        return RNNState([np.repeat(layer.start.data, batch, axis=0) for layer in self.layers])

    def forward(self, idx, targets=None, cache: RNNState | None = None, last_only: bool = False):
        """(logits (B, T, vocab), mean loss against targets or None): the one forward, with or without a graph.

        cache: decoding (under no_grad): start from the cache's states instead of the learned ones, and leave
        the states after idx in it. last_only: logits of the last position only, (B, 1, vocab)."""
        idx = self.check_input(idx, targets, last_only)
        if cache is not None and is_grad_enabled():
            raise ModelConfigError("RNN.forward: the state cache is for inference; wrap the call in no_grad()")
        B, T = idx.shape
        h_of = (slice(None), slice(0, self.n_hidden))  # the LSTM's state is [h, c]: the layers above see h
        hs: list[Tensor] = []
        for k, layer in enumerate(self.layers):
            if k == 0:
                # embedding then input projection is a row lookup in their product: (V, E) @ (E, G) -> (V, G),
                # which for a character vocabulary is far less work than projecting all B*T embeddings
                table = F.linear(self.wte.weight, layer.weight_ih, layer.bias_ih)  # (V, G)
                xgs = [F.embedding(idx[:, t], table) for t in range(T)]  # T x (B, G)
            else:
                drop = [F.dropout(h, self.dropout, self.rng, self.training) for h in hs]
                xgs = [F.linear(h, layer.weight_ih, layer.bias_ih) for h in drop]  # T x (B, G)
            states = layer(xgs, None if cache is None else Tensor(cache.states[k]))  # T x (B, S)
            if cache is not None:
                cache.states[k] = states[-1].data
            hs = [getitem(s, h_of) for s in states] if self.cell == "lstm" else states  # T x (B, H)
        if last_only:
            hs = hs[-1:]
        # dropout on the non-recurrent connections only (Zaremba et al., 2014)
        h = F.dropout(stack(hs, axis=1), self.dropout, self.rng, self.training)  # T x (B, H) -> (B, T, H)
        logits = self.head(h)  # (B, T, vocab)
        return logits, (self.loss(logits, targets) if targets is not None else None)
