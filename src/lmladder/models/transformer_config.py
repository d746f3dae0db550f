"""The GPT's hyper-parameters (models/transformer.py): every option with its rule, the checks across options, and
the parameter and FLOP counts they give. A feature of several settings is a group of its own, nested under the
GPT's (rules.py): the look-backs (`lookback.*`) and multi-token prediction (`mtp.*`)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from .. import nn
from ..nn.lookback import ngram_counts
from ..rules import block, check_fields, check_groups, choice, flag, integer, nest, number
from . import RetiredConfigError
from .base import Counts, ModelConfigError, need_vocab

NORMS = ("layernorm", "rmsnorm")
POSITIONS = ("learned", "rope")
SMEAR_WIDTH = 12  # channels the smear gate reads by default (modded-nanogpt's; nanochat's 24)


@dataclass
class SmearConfig:
    """modded-nanogpt's smear gate (nn/lookback.py: Smear): each position adds a gated share of the previous token's
    embedding."""

    enabled: bool = flag(False)
    width: int | None = integer(None, low=1, null="(12, or n_embd if smaller)")  # channels of its own the gate reads

    def check(self) -> None:
        check_fields(self, ModelConfigError)

    def gate_width(self, n_embd: int) -> int:
        """The channels the gate reads."""
        return min(SMEAR_WIDTH, n_embd) if self.width is None else self.width


@dataclass
class NgramEmbedConfig:
    """Learned rows for the n-grams of orders 2..order ending at each token, added to its embedding (nn/lookback.py:
    NgramEmbedding): order 2 is the bigram embedding, exact while its (V + 1) x V rows fit in `buckets`."""

    order: int = integer(0, low=0, high=8, note="0 turns it off")
    buckets: int = integer(8192, low=1, note="rows per order, e.g. 4096")  # an order with more n-grams hashes them

    def check(self) -> None:
        check_fields(self, ModelConfigError)
        if self.order == 1:
            raise ModelConfigError(
                "order=1 is the token embedding itself: n-gram rows start at order 2; set order >= 2 (rows for the "
                "orders 2..n; 2 is the bigram embedding), or 0 to turn them off"
            )

    def rows(self, vocab_size: int) -> int:
        """The table's rows: per order, one per n-gram while they fit in `buckets`."""
        return sum(min(n, self.buckets) for n in ngram_counts(vocab_size, self.order))


# Allen-Zhu's four places for a Canon layer, named by his letters: a, before attention (on the normed input); b, on
# attention's queries, keys and values; c, before the MLP; d, on the MLP's hidden layer before its activation
CANON_PLACES = ("a", "b", "c", "d")
PLACE_SETS = tuple("".join(s) for n in range(1, 5) for s in itertools.combinations(CANON_PLACES, n))


@dataclass
class ConvConfig:
    """Canon layers (nn/lookback.py: CausalConv): x + a causal per-channel convolution of the last `kernel` positions,
    at each place `at` names."""

    kernel: int = integer(0, low=0, high=64, note="0 turns it off")
    at: str = choice("ac", PLACE_SETS)  # the places, in order: "ac" (before attention and the MLP), "abcd", ...

    def check(self) -> None:
        check_fields(self, ModelConfigError)
        if self.kernel == 1:
            raise ModelConfigError(
                "kernel=1 reads no earlier position (it only rescales each channel); set kernel >= 2 (e.g. 4: the "
                "position and the 3 before it), or 0 to turn it off"
            )

    def on(self, place: str) -> bool:
        """Whether a convolution runs at this place (one of CANON_PLACES)."""
        return bool(self.kernel) and place in self.at

    def channels(self, n_embd: int, qkv_width: int) -> int:
        """The channels convolved in one block: n_embd at a and c, q, k and v's at b, the MLP's 4 n_embd at d."""
        width = {"a": n_embd, "b": qkv_width, "c": n_embd, "d": 4 * n_embd}
        return sum(width[p] for p in CANON_PLACES if self.on(p))


@dataclass
class LookbackConfig:
    """Cheap looks at the last few tokens for character models (nn/lookback.py), all off by default: the smear gate
    and n-gram rows on the input, causal convolutions inside every block."""

    smear: SmearConfig = block(SmearConfig)
    ngram: NgramEmbedConfig = block(NgramEmbedConfig)
    conv: ConvConfig = block(ConvConfig)

    def __post_init__(self):
        nest(self)

    def check(self) -> None:
        check_fields(self, ModelConfigError)
        check_groups(self, ModelConfigError)

    @property
    def tokens(self) -> int:
        """How many tokens before a position the look-backs read: what a KV cache keeps of the tokens fed."""
        return max(1, self.ngram.order - 1)


@dataclass
class MtpConfig:
    """Multi-token prediction (nn/future.py), a training loss only: `heads` more heads predict the tokens 2..heads+1
    ahead, their mean loss weighted by `weight` beside the next token's."""

    heads: int = integer(0, low=0, high=8, note="0 turns it off")
    weight: float = number(0.3, above=0)

    def check(self) -> None:
        check_fields(self, ModelConfigError)


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
    value_residual: bool = flag(False)  # layers after the first mix the first layer's values into theirs (ResFormer)
    n_kv_head: int | None = integer(None, low=1, null="(= n_head)")  # key/value heads, grouped-query attention
    lookback: LookbackConfig = block(LookbackConfig)
    mtp: MtpConfig = block(MtpConfig)
    vocab_size: int | None = integer(None, low=1, null="(set from the data)")

    def __post_init__(self):
        nest(self)

    def check(self) -> None:
        check_fields(self, ModelConfigError)
        check_groups(self, ModelConfigError)
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
        if self.value_residual and self.n_layer < 2:
            raise ModelConfigError(
                "value_residual=true needs n_layer >= 2 (the layers after the first mix in the first one's values); "
                "set n_layer >= 2 or turn value_residual off"
            )
        if (width := self.lookback.smear.width) is not None and width > self.n_embd:
            raise ModelConfigError(
                f"lookback.smear.width={width} exceeds n_embd={self.n_embd} (the smear gate reads the first width "
                "channels of each embedding); set lookback.smear.width <= n_embd, or null"
            )
        if (k := self.mtp.heads) >= self.block_size:
            raise ModelConfigError(
                f"mtp.heads={k} predicts {k + 1} tokens ahead, and windows of block_size={self.block_size} leave no "
                "position with a target that far; set mtp.heads < block_size, or 0 to turn it off"
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
        tables += self.lookback.ngram.rows(V) * C
        gate = self.lookback.smear.gate_width(C) if self.lookback.smear.enabled else 0
        smear = gate + 1 if gate else 0  # the gate's weights (a matrix product) and lam
        future = self.mtp.heads * V * C  # multi-token prediction's heads (trained, never run at inference)
        conv = self.lookback.conv.kernel * self.lookback.conv.channels(C, C + 2 * kv)  # a multiply-add per weight
        params = tables + L * (block + biases + 2 * norm + conv) + norm + (0 if self.tie_weights else V * C)
        params += smear + future + (L - 1 if self.value_residual else 0)  # a mixing weight per layer after the first
        matmul = L * (block + conv) + V * C + gate + future  # the heads: every token
        return Counts(params, params - tables, matmul, 6 * matmul + 6 * L * T * C)

    @property
    def kv_heads(self) -> int:
        return self.n_head if self.n_kv_head is None else self.n_kv_head

    def has_value_embed(self, layer: int) -> bool:
        """Alternate layers, the last one included (nanochat's rule)."""
        return self.value_embeds and layer % 2 == (self.n_layer - 1) % 2


_LOOKBACK = "the look-backs' settings are one group"
_MTP = "multi-token prediction's settings are one group"
# GPTConfig's flat fields before its groups: old -> (new, why). config.py refuses them in a config, naming the new
# key; from_stored maps them in the fields a checkpoint stored.
RENAMED = {
    "smear": ("lookback.smear.enabled", _LOOKBACK),
    "smear_width": ("lookback.smear.width", _LOOKBACK),
    "bigram_embed": ("lookback.ngram.order=2", "the bigram embedding is the n-gram rows of order 2"),
    "ngram_embed": ("lookback.ngram.order", _LOOKBACK),
    "ngram_buckets": ("lookback.ngram.buckets", _LOOKBACK),
    "conv_kernel": ("lookback.conv.kernel", _LOOKBACK),
    "lookback.conv": ("lookback.conv.kernel", "the convolution's settings are one group: its kernel and its places"),
    "mtp": ("mtp.heads", _MTP),
    "mtp_weight": ("mtp.weight", _MTP),
}


def from_stored(stored: dict) -> dict:
    """GPTConfig's fields from those a checkpoint stored. A file written before the groups holds RENAMED's flat
    fields: they become the groups of the same model, bigram_embed the n-gram rows of order 2 with a row per pair
    (its table's rows, in the same order: renamed_weights). A file with both bigram_embed and ngram_embed had two
    tables of order 2, which no config describes now: refused. A file written before the convolution's group holds
    its kernel as `lookback.conv`, at the places it had then (a and c)."""
    look = stored.get("lookback")
    if isinstance(look, dict) and isinstance(look.get("conv"), int):
        stored = {**stored, "lookback": {**look, "conv": {"kernel": look["conv"], "at": "ac"}}}
    flat = {k: v for k, v in stored.items() if k in RENAMED and not (k == "mtp" and isinstance(v, dict))}
    if not flat or "lookback" in stored:  # today's fields (or a mix, which GPTConfig refuses as unknown fields)
        return stored
    ngram = NgramEmbedConfig(flat.get("ngram_embed", 0), flat.get("ngram_buckets", NgramEmbedConfig.buckets))
    if flat.get("bigram_embed"):
        if ngram.order:
            raise RetiredConfigError(
                f"its GPT has bigram_embed=true and ngram_embed={ngram.order}, two tables of order 2, which this "
                f"lmladder no longer builds; retrain it with transformer.model.lookback.ngram.order={ngram.order} "
                "(its rows of order 2 are the bigram embedding)"
            )
        V = stored["vocab_size"]
        ngram = NgramEmbedConfig(2, max(ngram.buckets, (V + 1) * V))
    smear = SmearConfig(flat.get("smear", False), flat.get("smear_width"))
    lookback = LookbackConfig(smear, ngram, ConvConfig(flat.get("conv_kernel", 0), "ac"))
    mtp = MtpConfig(flat.get("mtp", 0), flat.get("mtp_weight", MtpConfig.weight))
    return {**{k: v for k, v in stored.items() if k not in flat}, "lookback": lookback, "mtp": mtp}


def renamed_weights(stored: dict) -> dict[str, str]:
    """{older name: name} of the weights a checkpoint with these stored fields holds: bigram_embed's table is the
    n-gram table now."""
    return {"bigram.weight": "ngram.weight"} if stored.get("bigram_embed") and "lookback" not in stored else {}
