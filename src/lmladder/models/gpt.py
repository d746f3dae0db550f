"""A tiny GPT (Radford et al., 2018/2019, "Language Models are Unsupervised Multitask Learners"), nanoGPT-style:
token + learned position embeddings, pre-norm blocks of causal multi-head self-attention (Vaswani et al., 2017)
and a 4x MLP, a final norm and a linear head optionally tied to the token embedding (Press & Wolf, 2017)."""

from __future__ import annotations

import math

import numpy as np

from .. import nn
from ..autograd import functional as F
from ..autograd import is_grad_enabled
from ..autograd.engine import Tensor
from .base import LanguageModel, ModelConfigError, is_size

NORMS = ("layernorm", "rmsnorm")


def _norm(kind: str, dim: int, bias: bool, dtype) -> nn.Module:
    return nn.LayerNorm(dim, bias=bias, dtype=dtype) if kind == "layernorm" else nn.RMSNorm(dim, dtype=dtype)


class KVCache:
    """Keys and values of every layer for the tokens seen so far, preallocated to block_size."""

    def __init__(self, n_layer: int, batch: int, n_head: int, block_size: int, head_dim: int, dtype):
        shape = (batch, n_head, block_size, head_dim)
        self.k = [np.zeros(shape, dtype) for _ in range(n_layer)]
        self.v = [np.zeros(shape, dtype) for _ in range(n_layer)]
        self.length = 0
        self.block_size = block_size


class CausalSelfAttention(nn.Module):
    def __init__(self, n_embd, n_head, dropout, bias, rng, dtype, proj_std):
        self.n_head, self.dropout, self.rng = n_head, dropout, rng
        self.c_attn = nn.Linear(n_embd, 3 * n_embd, bias=bias, rng=rng, dtype=dtype)
        self.c_proj = nn.Linear(n_embd, n_embd, bias=bias, rng=rng, dtype=dtype)
        self.c_proj.weight.data[...] = nn.init.normal(rng, self.c_proj.weight.shape, proj_std, dtype=dtype)
        self.resid_drop = nn.Dropout(dropout, rng=rng)

    def forward(self, x: Tensor, cache: KVCache | None = None, layer: int = 0) -> Tensor:
        qkv = self.c_attn(x)  # (B, T, C) -> (B, T, 3C)
        # inference: the op appends this step's keys/values to the cache and attends over all of them
        kv = None if cache is None else (cache.k[layer], cache.v[layer], cache.length)
        p = self.dropout if self.training else 0.0
        y = F.causal_self_attention(qkv, self.n_head, p, self.rng, kv)  # (B, T, 3C) -> (B, T, C), heads inside
        return self.resid_drop(self.c_proj(y))


class FeedForward(nn.Module):
    def __init__(self, n_embd, dropout, bias, activation, rng, dtype, proj_std):
        self.c_fc = nn.Linear(n_embd, 4 * n_embd, bias=bias, rng=rng, dtype=dtype)
        self.act = nn.activation(activation)
        self.c_proj = nn.Linear(4 * n_embd, n_embd, bias=bias, rng=rng, dtype=dtype)
        self.c_proj.weight.data[...] = nn.init.normal(rng, self.c_proj.weight.shape, proj_std, dtype=dtype)
        self.drop = nn.Dropout(dropout, rng=rng)

    def forward(self, x):
        return self.drop(self.c_proj(self.act(self.c_fc(x))))  # (B, T, C) -> (B, T, 4C) -> (B, T, C)


class Block(nn.Module):
    """Pre-norm residual block: x + attn(norm(x)), then x + mlp(norm(x))."""

    def __init__(self, n_embd, n_head, dropout, bias, norm, activation, rng, dtype, proj_std):
        self.ln_1 = _norm(norm, n_embd, bias, dtype)
        self.attn = CausalSelfAttention(n_embd, n_head, dropout, bias, rng, dtype, proj_std)
        self.ln_2 = _norm(norm, n_embd, bias, dtype)
        self.mlp = FeedForward(n_embd, dropout, bias, activation, rng, dtype, proj_std)

    def forward(self, x, cache=None, layer=0):
        x = x + self.attn(self.ln_1(x), cache, layer)
        return x + self.mlp(self.ln_2(x))


class GPT(LanguageModel):
    kind = "gpt"

    def __init__(
        self,
        vocab_size: int,
        block_size: int = 64,
        n_layer: int = 4,
        n_head: int = 4,
        n_embd: int = 128,
        dropout: float = 0.0,
        bias: bool = False,
        norm: str = "layernorm",
        activation: str = "gelu",
        tie_weights: bool = True,
        pad_id: int = 0,
        *,
        rng: np.random.Generator,
        dtype=np.float32,
    ):
        for name, val in (
            ("vocab_size", vocab_size),
            ("block_size", block_size),
            ("n_layer", n_layer),
            ("n_head", n_head),
            ("n_embd", n_embd),
        ):
            if not is_size(val):
                raise ModelConfigError(
                    f"GPT: {name} must be a positive integer, got {val!r}; fix transformer.model.{name}"
                )
        if n_embd % n_head:
            raise ModelConfigError(
                f"GPT: n_embd={n_embd} is not divisible by n_head={n_head}; pick n_embd a multiple of n_head"
            )
        if norm not in NORMS:
            raise ModelConfigError(f"GPT: norm={norm!r}; choose one of {NORMS}")
        if not 0 <= dropout < 1:
            raise ModelConfigError(f"GPT: dropout={dropout} outside [0, 1)")
        self._kwargs = dict(
            vocab_size=vocab_size,
            block_size=block_size,
            n_layer=n_layer,
            n_head=n_head,
            n_embd=n_embd,
            dropout=dropout,
            bias=bias,
            norm=norm,
            activation=activation,
            tie_weights=tie_weights,
            pad_id=pad_id,
        )
        self.vocab_size, self.block_size, self.n_layer, self.n_head = vocab_size, block_size, n_layer, n_head
        self.n_embd, self.pad_id = n_embd, pad_id
        std, proj_std = 0.02, 0.02 / math.sqrt(2 * n_layer)  # GPT-2: scale residual projections by depth
        self.wte = nn.Embedding(vocab_size, n_embd, rng=rng, dtype=dtype)
        self.wte.weight.data[...] = nn.init.normal(rng, self.wte.weight.shape, std, dtype=dtype)
        self.wpe = nn.Embedding(block_size, n_embd, rng=rng, dtype=dtype)
        self.wpe.weight.data[...] = nn.init.normal(rng, self.wpe.weight.shape, std, dtype=dtype)
        self.drop = nn.Dropout(dropout, rng=rng)
        self.blocks = nn.ModuleList(
            Block(n_embd, n_head, dropout, bias, norm, activation, rng, dtype, proj_std) for _ in range(n_layer)
        )
        for blk in self.blocks:  # nanoGPT's _init_weights: N(0, 0.02) for every non-residual Linear, zero biases
            for lin in (blk.attn.c_attn, blk.mlp.c_fc):
                lin.weight.data[...] = nn.init.normal(rng, lin.weight.shape, std, dtype=dtype)
            for lin in (blk.attn.c_attn, blk.attn.c_proj, blk.mlp.c_fc, blk.mlp.c_proj):
                if lin.bias is not None:
                    lin.bias.data[...] = 0
        self.ln_f = _norm(norm, n_embd, bias, dtype)
        self.lm_head = nn.Linear(n_embd, vocab_size, bias=False, rng=rng, dtype=dtype)
        if tie_weights:
            self.lm_head.weight = self.wte.weight
        else:
            self.lm_head.weight.data[...] = nn.init.normal(rng, self.lm_head.weight.shape, std, dtype=dtype)

    def config(self) -> dict:
        return dict(self._kwargs)

    def new_cache(self, batch: int) -> KVCache:
        return KVCache(
            self.n_layer, batch, self.n_head, self.block_size, self.n_embd // self.n_head, self.wte.weight.dtype
        )

    def forward(self, idx, targets=None, cache: KVCache | None = None, last_only: bool = False):
        """(logits (B, T, vocab), mean loss against targets or None): the one forward, with or without a graph.

        cache: KV-cached decoding (under no_grad): idx continues the cache's tokens, whose keys/values it appends.
        last_only: logits of the last position only, (B, 1, vocab), for sampling (nanoGPT's
        lm_head(x[:, [-1], :])): the final norm and the head skip the other T - 1 positions. Scoring needs all
        positions, so it cannot be combined with targets."""
        idx = self.check_input(idx)
        B, T = idx.shape
        start = 0
        if cache is not None:
            if is_grad_enabled():
                raise ModelConfigError("GPT.forward: the KV cache is for inference; wrap the call in no_grad()")
            start = cache.length
            if start + T > self.block_size:
                raise ModelConfigError(
                    f"GPT.forward: cache holds {start} tokens, {T} more exceed block_size {self.block_size}; "
                    "start a new cache from the last tokens"
                )
        if last_only and targets is not None:
            raise ModelConfigError("GPT.forward: last_only=True scores one position; drop targets or last_only")
        x = self.wte(idx) + self.wpe.weight[start : start + T]  # (B, T, C) + (T, C); a slice, not a gather
        x = self.drop(x)
        for i, block in enumerate(self.blocks):
            x = block(x, cache, i)
        if cache is not None:
            cache.length += T
        if last_only and T > 1:
            x = x[:, -1:]  # (B, T, C) -> (B, 1, C)
        logits = self.lm_head(self.ln_f(x))  # (B, T, C) -> (B, T, vocab)
        return logits, (self.loss(logits, targets) if targets is not None else None)
