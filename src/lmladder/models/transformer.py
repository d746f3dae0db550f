"""A tiny GPT (Radford et al., 2018/2019, "Language Models are Unsupervised Multitask Learners"), nanoGPT-style:
token + learned position embeddings, pre-norm blocks of causal multi-head self-attention (Vaswani et al., 2017)
and a 4x MLP, a final norm and a linear head optionally tied to the token embedding (Press & Wolf, 2017).

The modern transformer of modded-nanogpt and nanochat is the same class by configuration: rotary positions
(Su et al., 2021), QK-norm (Henry et al., 2020), ReLU^2 (So et al., 2021), zero-initialised output projections,
a logit soft-cap (Gemma 2), value embeddings on alternate layers (nanochat), the value residual (Zhou et al., 2024,
ResFormer) and grouped-query attention (Ainslie et al., 2023). Cheap look-backs for character models
(nn/lookback.py): modded-nanogpt's smear gate and n-gram embeddings (exact bigrams, hashed longer n-grams: BLT) on
the input, causal convolutions inside each block (Canon layers, at any of Allen-Zhu's four places: before
attention, on its queries, keys and values, before the MLP, inside it). Multi-token prediction (nn/future.py) adds
a training loss only. Every option defaults to the GPT-2 model above.

The forward reads embed -> blocks -> head, as nanoGPT's: each option lives in the part it changes."""

from __future__ import annotations

import math

import numpy as np

from .. import nn
from ..autograd import functional as F
from ..autograd.engine import Tensor
from ..data.batching import IGNORE_INDEX
from ..nn.future import FutureHeads
from ..nn.lookback import CausalConv, NgramEmbedding, Smear
from . import transformer_config
from .base import LanguageModel, ModelConfigError
from .transformer_cache import KVCache
from .transformer_config import GPTConfig


def _norm(c: GPTConfig, dtype) -> nn.Module:
    if c.norm == "layernorm":
        return nn.LayerNorm(c.n_embd, bias=c.bias, dtype=dtype)
    return nn.RMSNorm(c.n_embd, dtype=dtype)


def _residual_proj(c: GPTConfig, fan_in: int, rng, dtype) -> nn.Linear:
    """A projection back into the residual stream: N(0, 0.02 / sqrt(2 n_layer)), GPT-2's depth scaling, or zero
    (zero_init_proj: every block starts as the identity)."""
    lin = nn.Linear(fan_in, c.n_embd, bias=c.bias, rng=rng, dtype=dtype)
    lin.weight.data[...] = nn.init.normal(rng, lin.weight.shape, 0.02 / math.sqrt(2 * c.n_layer), dtype=dtype)
    if c.zero_init_proj:
        lin.weight.data[...] = 0
    return lin


class CausalSelfAttention(nn.Module):
    def __init__(self, c: GPTConfig, rng, dtype, layer: int = 0):
        self.n_head, self.n_kv_head, self.head_dim = c.n_head, c.kv_heads, c.n_embd // c.n_head
        self.dropout, self.rng, self.n_embd = c.dropout, rng, c.n_embd
        self.rope_base = c.rope_base if c.pos == "rope" else None
        self.qk_norm = c.qk_norm  # a gain-free RMS norm of each query and key head
        width = (c.n_head + 2 * self.n_kv_head) * self.head_dim  # q, k, v side by side: 3C without GQA
        self.c_attn = nn.Linear(c.n_embd, width, bias=c.bias, rng=rng, dtype=dtype)
        kv = self.n_kv_head * self.head_dim
        self.c_attn.weight.row_blocks = (c.n_embd, kv, kv)  # q, k, v: three matrices fused (Muon may split them)
        self.c_proj = _residual_proj(c, c.n_embd, rng, dtype)
        self.resid_drop = nn.Dropout(c.dropout, rng=rng)
        self.plain = not (self.rope_base or c.qk_norm or self.n_kv_head != self.n_head)
        conv = c.lookback.conv  # Canon-B: on the queries, keys and values c_attn makes
        self.conv = CausalConv(width, conv.kernel, dtype) if conv.on("b") else None
        # the value residual's weight of the first layer's values (ResFormer's 0.5 to start); None: the first layer
        self.lam = nn.Parameter(np.full((1,), 0.5, dtype)) if c.value_residual and layer else None

    def forward(self, x: Tensor, cache: KVCache | None = None, layer: int = 0, ve=None, v1=None) -> Tensor:
        """v1: the first layer's values, a list this layer appends its own to (the first) or mixes them from."""
        qkv = self.qkv(x, cache, ve, layer, v1)  # (B, T, C) -> (B, T, 3C)
        # inference: the op appends this step's keys/values to the cache and attends over all of them
        kv = None if cache is None else (cache.k[layer], cache.v[layer], cache.length)
        p = self.dropout if self.training else 0.0
        y = F.causal_self_attention(qkv, self.n_head, p, self.rng, kv)  # (B, T, 3C) -> (B, T, C), heads inside
        return self.resid_drop(self.c_proj(y))

    def qkv(self, x: Tensor, cache: KVCache | None = None, ve=None, layer: int = 0, v1=None) -> Tensor:
        """The queries, keys and values attention reads, (B, T, C) -> (B, T, 3C): after the convolution, value
        embeddings, QK-norm, rotary positions, shared key/value heads and the value residual (the health statistics
        record this)."""
        qkv = self.c_attn(x)  # (B, T, C) -> (B, T, (H + 2 H_kv) d)
        if self.conv is not None:
            qkv = self.conv(qkv, cache, (layer, 3))
        if ve is not None or not self.plain:
            start = 0 if cache is None else cache.length
            opts = dict(qk_norm=self.qk_norm, rope_base=self.rope_base, start=start)
            qkv = F.modern_qkv(qkv, ve, self.n_head, self.n_kv_head, **opts)
        if v1 is not None and self.lam is None:  # the first layer: its values, for the later ones
            v1.append(qkv[..., -self.n_embd :])  # (B, T, C)
        elif v1 is not None:
            qkv = F.value_residual(qkv, v1[0], self.lam)  # v + lam (v1 - v)
        return qkv


class FeedForward(nn.Module):
    def __init__(self, c: GPTConfig, rng, dtype):
        self.c_fc = nn.Linear(c.n_embd, 4 * c.n_embd, bias=c.bias, rng=rng, dtype=dtype)
        self.act = nn.activation(c.activation)
        self.c_proj = _residual_proj(c, 4 * c.n_embd, rng, dtype)
        self.drop = nn.Dropout(c.dropout, rng=rng)
        conv = c.lookback.conv  # Canon-D: on the hidden layer, before the activation
        self.conv = CausalConv(4 * c.n_embd, conv.kernel, dtype) if conv.on("d") else None

    def forward(self, x, cache=None, layer=0):
        h = self.c_fc(x)  # (B, T, C) -> (B, T, 4C)
        if self.conv is not None:
            h = self.conv(h, cache, (layer, 4))
        return self.drop(self.c_proj(self.act(h)))  # (B, T, 4C) -> (B, T, C)


class Block(nn.Module):
    """Pre-norm residual block: x + attn(norm(x)), then x + mlp(norm(x)). Stochastic depth drops each branch per
    sample at a rate rising linearly from 0 at the first block to drop_path at the last (Huang et al., 2016)."""

    def __init__(self, c: GPTConfig, rng, dtype, layer: int = 0):
        self.ln_1 = _norm(c, dtype)
        self.attn = CausalSelfAttention(c, rng, dtype, layer)
        self.ln_2 = _norm(c, dtype)
        self.mlp = FeedForward(c, rng, dtype)
        self.drop_path = nn.DropPath(c.drop_path * layer / max(1, c.n_layer - 1), rng=rng)
        conv = c.lookback.conv  # Canon-A and -C: mix the last positions into what attention and the MLP read
        self.conv_1 = CausalConv(c.n_embd, conv.kernel, dtype) if conv.on("a") else None
        self.conv_2 = CausalConv(c.n_embd, conv.kernel, dtype) if conv.on("c") else None

    def forward(self, x, cache=None, layer=0, ve=None, v1=None):
        h = self.ln_1(x)
        if self.conv_1 is not None:
            h = self.conv_1(h, cache, (layer, 1))
        x = x + self.drop_path(self.attn(h, cache, layer, ve, v1))
        h = self.ln_2(x)
        if self.conv_2 is not None:
            h = self.conv_2(h, cache, (layer, 2))
        return x + self.drop_path(self.mlp(h, cache, layer))


class GPT(LanguageModel):
    rung, ladder_position = "transformer", 60
    Config = GPTConfig
    renamed = transformer_config.RENAMED

    def __init__(self, config: GPTConfig, *, rng: np.random.Generator, dtype=np.float32):
        super().__init__(config)
        c, look = config, config.lookback
        self.block_size, self.n_layer, self.n_head, self.n_embd = c.block_size, c.n_layer, c.n_head, c.n_embd
        std = 0.02
        self.wte = nn.Embedding(c.vocab_size, c.n_embd, rng=rng, dtype=dtype)
        self.wte.weight.data[...] = nn.init.normal(rng, self.wte.weight.shape, std, dtype=dtype)
        self.wpe = None
        if c.pos == "learned":
            self.wpe = nn.Embedding(c.block_size, c.n_embd, rng=rng, dtype=dtype)
            self.wpe.weight.data[...] = nn.init.normal(rng, self.wpe.weight.shape, std, dtype=dtype)
        self.drop = nn.Dropout(c.dropout, rng=rng)
        self.blocks = nn.ModuleList(Block(c, rng, dtype, i) for i in range(c.n_layer))
        for blk in self.blocks:  # nanoGPT's _init_weights: N(0, 0.02) for every non-residual Linear, zero biases
            for lin in (blk.attn.c_attn, blk.mlp.c_fc):
                lin.weight.data[...] = nn.init.normal(rng, lin.weight.shape, std, dtype=dtype)
            for lin in (blk.attn.c_attn, blk.attn.c_proj, blk.mlp.c_fc, blk.mlp.c_proj):
                if lin.bias is not None:
                    lin.bias.data[...] = 0
        self.ln_f = _norm(c, dtype)
        self.lm_head = nn.Linear(c.n_embd, c.vocab_size, bias=False, rng=rng, dtype=dtype)
        if c.tie_weights:
            self.lm_head.weight = self.wte.weight
        else:
            self.lm_head.weight.data[...] = nn.init.normal(rng, self.lm_head.weight.shape, std, dtype=dtype)
        kv_width = c.kv_heads * (c.n_embd // c.n_head)
        self.value_embeds = nn.ModuleList(
            nn.Embedding(c.vocab_size, kv_width, rng=rng, dtype=dtype) for i in range(c.n_layer) if c.has_value_embed(i)
        )
        for emb in self.value_embeds:
            emb.weight.data[...] = nn.init.normal(rng, emb.weight.shape, std, dtype=dtype)
        self.logit_softcap = c.logit_softcap
        # the look-backs start at zero and draw nothing from rng: at step 0, the same model as without them
        self.smear = Smear(look.smear.gate_width(c.n_embd), dtype) if look.smear.enabled else None
        o = look.ngram.order
        self.ngram = NgramEmbedding(c.vocab_size, c.n_embd, o, look.ngram.buckets, dtype) if o else None
        k = c.mtp.heads
        self.future = FutureHeads(c.n_embd, c.vocab_size, k, c.mtp.weight, dtype) if k else None

    @classmethod
    def stored_config(cls, fields: dict) -> GPTConfig:
        return GPTConfig(**transformer_config.from_stored(fields))  # the flat fields of older files, as groups

    @classmethod
    def renamed_weights(cls, fields: dict) -> dict[str, str]:
        return transformer_config.renamed_weights(fields)

    def set_context(self, n: int) -> None:
        """Read rows of up to n tokens from now on (`lmladder evaluate --window`). Fewer than block_size always work;
        more only with rotary positions, which are computed for any length (the model then reads further back than
        it was trained to); learned positions have block_size rows."""
        if n > self.config.block_size and self.wpe is not None:
            raise ModelConfigError(
                f"a window of {n} exceeds this GPT's block_size={self.config.block_size} and its positions are "
                f"learned (pos=learned), one row each; use a window <= {self.config.block_size}"
            )
        self.block_size = n

    @classmethod
    def min_params(cls, c: GPTConfig) -> float:
        return float(c.counts().params)  # exact, from the sizes alone (and O(1) in them)

    def new_cache(self, batch: int) -> KVCache:
        c, head_dim = self.config, self.n_embd // self.n_head
        dims = (self.n_layer, batch, self.n_head, self.block_size, head_dim, self.wte.weight.dtype)
        return KVCache(*dims, lookback=c.lookback.tokens, pad=c.vocab_size)

    def forward(self, idx, targets=None, cache: KVCache | None = None, last_only: bool = False):
        """(logits (B, T, vocab), mean loss against targets or None): the one forward, with or without a graph.

        cache: KV-cached decoding (under no_grad): idx continues the cache's tokens, whose keys/values it appends.
        last_only: logits of the last position only, (B, 1, vocab) (nanoGPT's lm_head(x[:, [-1], :])): the final
        norm and the head skip the other T - 1 positions. Sampling calls it without targets; with targets (B, 1)
        the loss is that of the last position alone (the contract of models/base.py)."""
        idx = self.check_input(idx, targets, last_only)
        x = self.embed(idx, cache)  # (B, T) -> (B, T, C)
        for i, (block, (ve, v1)) in enumerate(zip(self.blocks, self.values(idx), strict=True)):
            x = block(x, cache, i, ve, v1)  # (B, T, C)
        if cache is not None:
            cache.advance(idx)
        return self.head(x, targets, last_only)

    def embed(self, idx: np.ndarray, cache: KVCache | None = None) -> Tensor:
        """idx (B, T) -> (B, T, C): the token embeddings, the look-backs on them (with a cache, reading the tokens
        before idx that it keeps), the positions, dropout."""
        T = idx.shape[1]
        start = 0 if cache is None else cache.room(T)  # the position of idx's first token
        before = None if cache is None else cache.last  # (B, lookback): the tokens before idx's first, if any
        x = self.wte(idx)  # (B, T, C)
        if self.smear is not None:
            x = self.smear(x, None if before is None else self.wte(before[:, -1:]))  # before: (B, 1, C)
        if self.ngram is not None:
            x = x + self.ngram(idx, before)  # (B, T, C)
        if self.wpe is not None:
            x = x + self.wpe.weight[start : start + T]  # (B, T, C) + (T, C); a slice, not a gather
        return self.drop(x)

    def values(self, idx: np.ndarray):
        """What each layer adds to its values: (its value embedding of idx, (B, T, H_kv d), or None for a layer
        without one; the value residual's list that the first layer fills with its values, or None without it)."""
        ves, v1 = iter(self.value_embeds), [] if self.config.value_residual else None
        return ((next(ves)(idx) if self.config.has_value_embed(i) else None, v1) for i in range(self.n_layer))

    def head(self, x: Tensor, targets=None, last_only: bool = False):
        """x (B, T, C) -> (logits, loss): the final norm, the linear head (soft-capped), the mean cross-entropy. A
        training forward with mtp adds the future heads' loss to the next token's; evaluation scores the next token
        alone."""
        if last_only and x.shape[1] > 1:
            x = x[:, -1:]  # (B, T, C) -> (B, 1, C)
        h = self.ln_f(x)
        logits = self.lm_head(h)  # (B, T, C) -> (B, T, vocab)
        if self.logit_softcap is not None:
            logits = F.softcap(logits, self.logit_softcap)
        loss = None if targets is None else self.loss(logits, targets)
        if self.future is not None and self.training and loss is not None and not last_only:
            loss = loss + self.future(h, np.asarray(targets), IGNORE_INDEX)  # the tokens 2..mtp.heads+1 ahead
        return logits, loss
