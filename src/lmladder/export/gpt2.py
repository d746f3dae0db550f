"""The GPT rung in GPT-2's own layout: what transformers' GPT2LMHeadModel and llama.cpp's gpt2 architecture read.

lmladder's GPT with its defaults *is* GPT-2 (pre-norm LayerNorm blocks, learned positions, fused qkv, a 4x MLP).
The exporters take a model by an allow-list of its config's fields (their paths, a group's fields included): those
GPT-2's layout expresses at any value or that do not change what a trained model computes (ANY_VALUE), and those
it has at one value (GPT2_VALUE). Any other value is refused, naming the field: a GPT-2 loader would run the model
without complaint and compute something else. A field in neither list (an option added since) is refused unless
it is at its default, which is GPT-2's (models/transformer.py); tests/test_export.py fails until it is listed.
"""

from __future__ import annotations

from dataclasses import fields, is_dataclass
from typing import Any

import numpy as np

from ..models.transformer import GPT, GPTConfig
from .errors import ExportError

# lmladder's activation -> transformers' ACT2FN name (GPT2MLP looks it up there)
HF_ACTIVATIONS = {"gelu": "gelu_new", "gelu_exact": "gelu", "relu": "relu", "relu2": "relu2", "tanh": "tanh"}
LAYER_NORM_EPS = 1e-5  # nn.LayerNorm's default, which the GPT's norms use
# fields at any value: what GPT-2's layout says for it, or why a trained model computes the same whatever it is
ANY_VALUE = {
    "block_size": "n_positions",
    "n_layer": "n_layer",
    "n_head": "n_head",
    "n_embd": "n_embd",
    "vocab_size": "vocab_size",
    "bias": "zero biases where lmladder has none",
    "tie_weights": "tie_word_embeddings",
    "activation": "activation_function, among the format's activations (checked apart)",
    "dropout": "training only",
    "drop_path": "training only",
    "zero_init_proj": "the initialisation only",
    "rope_base": "unused with learned positions",
    "lookback.smear.width": "unused with the gate off",
    "lookback.ngram.buckets": "unused without n-gram rows",
    "lookback.conv.at": "unused without a convolution",
    "mtp.heads": "a training loss only: the next token's head is the model",
    "mtp.weight": "a training loss only",
}
# fields GPT-2 has at one value: (that value, what GPT-2 has)
GPT2_VALUE = {
    "norm": ("layernorm", "LayerNorm only"),
    "pos": ("learned", "learned position embeddings only"),
    "qk_norm": (False, "no QK-norm"),
    "logit_softcap": (None, "no logit soft-cap"),
    "value_embeds": (False, "no value embeddings"),
    "value_residual": (False, "no value residual"),
    "n_kv_head": (None, "one key/value head per query head"),
    "lookback.smear.enabled": (False, "no look-back gate on the embeddings"),
    "lookback.ngram.order": (0, "no n-gram embeddings"),
    "lookback.conv.kernel": (0, "no convolution inside its blocks"),
}


def leaves(config: Any, prefix: str = "") -> dict[str, tuple[Any, Any]]:
    """{path: (value, default)} of each field of a config, a group's fields by their dotted path."""
    out = {}
    for f in fields(config):
        value = getattr(config, f.name)
        if is_dataclass(value):
            out |= leaves(value, f"{prefix}{f.name}.")
        else:
            out[prefix + f.name] = (value, f.default)
    return out


def check_gpt2(model, fmt: str, activations) -> GPTConfig:
    """`model`'s config, or ExportError naming the first option GPT-2's layout cannot express."""
    c = model.config
    bad = []
    for path, (value, default) in leaves(c).items():
        if path == "n_kv_head" and c.kv_heads == c.n_head:
            value = None  # as many key/value heads as query heads, said either way
        if path in GPT2_VALUE and value != GPT2_VALUE[path][0]:
            bad.append((path, value, *GPT2_VALUE[path]))
        elif path not in ANY_VALUE and path not in GPT2_VALUE and value != default:
            bad.append((path, value, default, "no such option (this exporter does not know it)"))
    if c.activation not in activations:
        ok = ", ".join(activations)
        bad.append(("activation", c.activation, next(iter(activations)), f"activations {ok} only"))
    if bad:
        field, value, want, why = bad[0]
        more = f" (and {', '.join(b[0] for b in bad[1:])})" if len(bad) > 1 else ""
        raise ExportError(
            f"--to {fmt} writes GPT-2's layout, which cannot express transformer.model.{field}={value!r}{more}: it "
            f"has {why}; export a model trained with transformer.model.{field}={want!r}, or keep using lmladder"
        )
    return c


def blocks(model: GPT) -> dict[str, np.ndarray]:
    """lmladder's weights as {GPT-2 name: array}, Linear weights in lmladder's (out, in) layout, and a zero bias
    wherever lmladder has none (GPT-2 always has them)."""
    c, sd = model.config, model.state_dict()
    zeros = lambda n: np.zeros(n, dtype=sd["wte.weight"].dtype)  # noqa: E731
    out = {"wte.weight": sd["wte.weight"], "wpe.weight": sd["wpe.weight"]}
    parts = ("ln_1", "attn.c_attn", "attn.c_proj", "ln_2", "mlp.c_fc", "mlp.c_proj")
    for i in range(c.n_layer):
        for part in parts:
            w = sd[f"blocks.{i}.{part}.weight"]
            out[f"h.{i}.{part}.weight"] = w
            out[f"h.{i}.{part}.bias"] = sd.get(f"blocks.{i}.{part}.bias", zeros(w.shape[0]))
    out["ln_f.weight"] = sd["ln_f.weight"]
    out["ln_f.bias"] = sd.get("ln_f.bias", zeros(c.n_embd))
    out["lm_head.weight"] = model.lm_head.weight.data  # the token embedding itself when tied
    return out


def hf_state_dict(model: GPT) -> dict[str, np.ndarray]:
    """GPT2LMHeadModel's state dict: transformer.* names, Conv1D weights as (in, out); lm_head only when untied."""
    out = {}
    for name, w in blocks(model).items():
        if name == "lm_head.weight":
            if not model.config.tie_weights:
                out[name] = w
            continue
        conv = name.endswith(".weight") and any(p in name for p in ("c_attn", "c_proj", "c_fc"))
        out[f"transformer.{name}"] = np.ascontiguousarray(w.T if conv else w)
    return out


def hf_config(model: GPT, specials: dict[str, Any]) -> dict[str, Any]:
    c = model.config
    return {
        "architectures": ["GPT2LMHeadModel"],
        "model_type": "gpt2",
        "vocab_size": c.vocab_size,
        "n_positions": c.block_size,
        "n_ctx": c.block_size,  # llama.cpp's converter reads the context length from here
        "n_embd": c.n_embd,
        "n_layer": c.n_layer,
        "n_head": c.n_head,
        "n_inner": 4 * c.n_embd,
        "activation_function": HF_ACTIVATIONS[c.activation],
        "resid_pdrop": c.dropout,
        "embd_pdrop": c.dropout,
        "attn_pdrop": c.dropout,
        "layer_norm_epsilon": LAYER_NORM_EPS,
        "initializer_range": 0.02,
        "scale_attn_weights": True,
        "tie_word_embeddings": bool(c.tie_weights),
        "bos_token_id": specials.get("bos_id"),
        "eos_token_id": specials.get("eos_id"),
        "dtype": str(model.wte.weight.dtype),
        "use_cache": True,
    }
