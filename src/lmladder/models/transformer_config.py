"""The GPT's hyper-parameters (models/transformer.py): every option with its rule, the checks across options, and
the parameter and FLOP counts they give."""

from __future__ import annotations

from dataclasses import dataclass

from .. import nn
from ..nn.lookback import ngram_counts
from ..rules import check_fields, choice, flag, integer, number
from .base import Counts, ModelConfigError, need_vocab

NORMS = ("layernorm", "rmsnorm")
POSITIONS = ("learned", "rope")
SMEAR_WIDTH = 12  # channels the smear gate reads by default (modded-nanogpt's; nanochat's 24)
BIGRAM_MAX_VOCAB = 512  # bigram_embed keeps (V + 1) x V rows: a character or byte vocabulary


@dataclass
class GPTConfig:
    """The GPT's hyper-parameters: `transformer.model` in conf/, and what its checkpoints store."""

    block_size: int = integer(64, low=1)  # context length (positions embedded)
    n_layer: int = integer(4, low=1)
    n_head: int = integer(4, low=1)
    n_embd: int = integer(128, low=1)
    dropout: float = number(0.0, low=0, below=1, note="0 turns it off")
    drop_path: float = number(0.0, low=0, below=1, note="0 turns it off")  # stochastic depth of the last block
    bias: bool = flag(False)  # biases in Linear and LayerNorm (nanoGPT: False is a little better and faster)
    norm: str = choice("layernorm", NORMS)
    activation: str = choice("gelu", tuple(nn.ACTIVATIONS))  # gelu (tanh approximation) | gelu_exact | relu | tanh
    tie_weights: bool = flag(True)  # lm_head shares the token embedding (Press & Wolf, 2017)
    pos: str = choice("learned", POSITIONS)  # learned position embeddings | rope: rotary, on queries and keys
    rope_base: float = number(10000.0, above=1)  # rotary frequencies base^(-2i/head_dim)
    qk_norm: bool = flag(False)  # RMS-normalise each head's queries and keys before attention
    zero_init_proj: bool = flag(False)  # attention and MLP output projections start at zero
    logit_softcap: float | None = number(None, above=0, null="(off)")  # logits = cap * tanh(logits / cap)
    value_embeds: bool = flag(False)  # alternate layers add a per-token embedding to their values (nanochat)
    n_kv_head: int | None = integer(None, low=1, null="(= n_head)")  # key/value heads, grouped-query attention
    smear: bool = flag(False)  # each position adds a gated share of the previous token's embedding (modded-nanogpt)
    smear_width: int | None = integer(None, low=1, null="(12, or n_embd if smaller)")  # channels the gate reads
    bigram_embed: bool = flag(False)  # adds a learned embedding of (previous token, token): (V + 1) x V rows
    ngram_embed: int = integer(0, low=0, high=8, note="0 turns it off")  # adds learned n-gram rows, orders 2..this
    ngram_buckets: int = integer(8192, low=1, note="rows per order, e.g. 4096")  # hashed once an order outgrows it
    conv_kernel: int = integer(0, low=0, high=64, note="0 turns it off")  # x + a causal conv of this width, per block
    mtp: int = integer(0, low=0, high=8, note="0 turns it off")  # training also predicts the tokens 2..mtp+1 ahead
    mtp_weight: float = number(0.3, above=0)  # the weight of those heads' mean loss beside the next token's
    vocab_size: int | None = integer(None, low=1, null="(set from the data)")

    def check(self) -> None:
        check_fields(self, ModelConfigError)
        if self.n_embd % self.n_head:
            raise ModelConfigError(
                f"n_embd={self.n_embd} is not divisible by n_head={self.n_head}; pick n_embd a multiple of n_head"
            )
        if self.n_head % self.kv_heads:
            raise ModelConfigError(
                f"n_kv_head={self.n_kv_head} does not divide n_head={self.n_head}; pick a divisor of n_head"
            )
        if self.pos == "rope" and (self.n_embd // self.n_head) % 2:
            raise ModelConfigError(
                f"pos=rope needs an even head size: n_embd={self.n_embd} / n_head={self.n_head} = "
                f"{self.n_embd // self.n_head}; pick n_embd / n_head even"
            )
        if self.value_embeds and self.n_layer < 2:
            raise ModelConfigError(
                "value_embeds=true needs n_layer >= 2 (they go on alternate layers); set n_layer >= 2 or turn "
                "value_embeds off"
            )
        if self.smear_width is not None and self.smear_width > self.n_embd:
            raise ModelConfigError(
                f"smear_width={self.smear_width} exceeds n_embd={self.n_embd} (the smear gate reads the first "
                "smear_width channels of each embedding); set smear_width <= n_embd, or null"
            )
        if self.ngram_embed == 1:
            raise ModelConfigError(
                "ngram_embed=1 is the token embedding itself: n-gram rows start at order 2; set ngram_embed >= 2 "
                "(orders 2..ngram_embed), or 0 to turn them off"
            )
        if self.conv_kernel == 1:
            raise ModelConfigError(
                "conv_kernel=1 reads no earlier position (it only rescales each channel); set conv_kernel >= 2 "
                "(e.g. 4: the position and the 3 before it), or 0 to turn it off"
            )
        if self.mtp >= self.block_size:
            raise ModelConfigError(
                f"mtp={self.mtp} predicts {self.mtp + 1} tokens ahead, and windows of block_size={self.block_size} "
                f"leave no position with a target that far; set mtp < block_size, or 0 to turn it off"
            )
        if self.bigram_embed and self.vocab_size is not None and self.vocab_size > BIGRAM_MAX_VOCAB:
            V = self.vocab_size
            raise ModelConfigError(
                f"bigram_embed=true keeps a row per pair of tokens: {(V + 1) * V:,} rows x n_embd={self.n_embd} for a "
                f"vocabulary of {V} tokens; use one of at most {BIGRAM_MAX_VOCAB} (data.tokenizer=char or byte) or set "
                "bigram_embed=false"
            )

    def counts(self) -> Counts:
        """Parameters three ways and training FLOPs per token (models/base.py: Counts): 6 x the matmul weights plus
        attention's 6 x n_layer x block_size x n_embd (Kaplan et al. 2020)."""
        V, C, L, T = need_vocab(self), self.n_embd, self.n_layer, self.block_size
        kv = self.kv_heads * (C // self.n_head)  # width of the keys (and of the values)
        block = C * (C + 2 * kv) + C * C + 8 * C * C  # q, k, v; the attention's projection; the 4x MLP
        norm = C * (2 if self.bias and self.norm == "layernorm" else 1)  # gain (+ shift)
        biases = (C + 2 * kv) + C + 4 * C + C if self.bias else 0
        value_embeds = (L + 1) // 2 if self.value_embeds else 0  # alternate layers, the last included (has_value_embed)
        tables = V * C + (T * C if self.pos == "learned" else 0) + V * kv * value_embeds
        tables += ((V + 1) * V if self.bigram_embed else 0) * C + self.ngram_rows * C
        smear = self.gate_width + 1 if self.smear else 0  # the gate's weights (a matrix product) and lam
        future = self.mtp * V * C  # multi-token prediction's heads (training only)
        conv = 2 * self.conv_kernel * C  # two per block, a multiply-add per weight and token like a matrix's
        params = tables + L * (block + biases + 2 * norm + conv) + norm + (0 if self.tie_weights else V * C)
        params += smear + future
        matmul = L * (block + conv) + V * C + (self.gate_width if self.smear else 0) + future  # heads: every token
        return Counts(params, params - tables, matmul, 6 * matmul + 6 * L * T * C)

    @property
    def kv_heads(self) -> int:
        return self.n_head if self.n_kv_head is None else self.n_kv_head

    @property
    def ngram_rows(self) -> int:
        """The rows of ngram_embed's table: per order, one per k-gram while they fit in ngram_buckets."""
        return sum(min(n, self.ngram_buckets) for n in ngram_counts(need_vocab(self), self.ngram_embed))

    @property
    def lookback(self) -> int:
        """How many tokens before a position the look-backs read: what a KV cache keeps of the tokens fed."""
        return max(1, self.ngram_embed - 1)

    @property
    def gate_width(self) -> int:
        """The channels the smear gate reads."""
        return min(SMEAR_WIDTH, self.n_embd) if self.smear_width is None else self.smear_width

    def has_value_embed(self, layer: int) -> bool:
        """Alternate layers, the last one included (nanochat's rule)."""
        return self.value_embeds and layer % 2 == (self.n_layer - 1) % 2
