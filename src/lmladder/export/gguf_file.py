"""`--to gguf`: one file for llama.cpp, written by its own `gguf` package: architecture gpt2, the hyper-parameters
and the tokenizer in the metadata, the tensors under llama.cpp's gpt2 names (as its convert_hf_to_gguf.py writes a
GPT2LMHeadModel: Linear weights (out, in), output.weight always present).

The tokenizer is llama.cpp's byte-level BPE ("gpt2"): tokens spelled in GPT-2's byte alphabet, merges as "a b".
byte and bpe vocabularies are that already; a char vocabulary becomes one too (a character is the merge of its UTF-8
bytes, so every character of the vocabulary is one token); a word vocabulary, a char one with an unknown token and
bpe without a pre-split pattern have no llama.cpp equivalent and are refused.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..checkpoints import Checkpoint
from ..data.tokenizers import BPETokenizer, ByteTokenizer, CharTokenizer, Tokenizer
from ..inference.sampling import stop_token
from .errors import ExportError
from .gpt2 import LAYER_NORM_EPS, blocks, check_gpt2
from .hf_tokenizer import byte_level, require

# llama.cpp's gpt2 graph applies ggml_gelu, the tanh approximation: lmladder's "gelu"
GGUF_ACTIVATIONS = {"gelu": "gelu"}
# lmladder's pre-split pattern -> llama.cpp's pre-tokenizer of the same regex
PRE = {"gpt2": "gpt-2", "gpt4": "llama-bpe"}
NORMAL, CONTROL = 1, 3  # llama.cpp token types
_NAMES = {
    "ln_1": "attn_norm",
    "attn.c_attn": "attn_qkv",
    "attn.c_proj": "attn_output",
    "ln_2": "ffn_norm",
    "mlp.c_fc": "ffn_up",
    "mlp.c_proj": "ffn_down",
}


def gguf_tensors(model) -> dict[str, np.ndarray]:
    out = {}
    for name, w in blocks(model).items():
        if name.startswith("h."):
            _, i, rest = name.split(".", 2)
            part, kind = rest.rsplit(".", 1)
            out[f"blk.{i}.{_NAMES[part]}.{kind}"] = w
        else:
            top = {"wte": "token_embd", "wpe": "position_embd", "ln_f": "output_norm", "lm_head": "output"}
            part, kind = name.rsplit(".", 1)
            out[f"{top[part]}.{kind}"] = w
    return {k: np.ascontiguousarray(v) for k, v in out.items()}


def gguf_vocabulary(tok: Tokenizer) -> tuple[list[str], list[int], list[str], str]:
    """(tokens, token types, merges, pre-tokenizer name) of llama.cpp's byte-level BPE equal to `tok`."""
    if isinstance(tok, CharTokenizer):
        if tok.unk_id is not None:
            raise ExportError(
                f"--to gguf: this char vocabulary maps unseen characters to {tok.unk!r}, which llama.cpp's "
                "tokenizer cannot do (it falls back to bytes); export it with --to hf instead"
            )
        tokens = [byte_level(c.encode("utf-8")) for c in tok.itos]
        merges = list(dict.fromkeys(f"{t[:k]} {t[k]}" for t in tokens for k in range(1, len(t))))
        return tokens, [NORMAL] * len(tokens), merges, "gpt-2"  # merges stay inside a character: any split works
    if isinstance(tok, ByteTokenizer):
        return [byte_level(bytes([b])) for b in range(256)], [NORMAL] * 256, [], "gpt-2"
    if isinstance(tok, BPETokenizer):
        if tok.pattern not in PRE:
            raise ExportError(
                f"--to gguf: llama.cpp has no pre-tokenizer for data.bpe.pattern={tok.pattern!r}; export it with "
                f"--to hf, or train with data.bpe.pattern={next(iter(PRE))}"
            )
        n = 256 + len(tok.merges)
        tokens = [byte_level(p) for p in tok.vocab[:n]] + list(tok.specials)
        if len(set(tokens)) != len(tokens):
            raise ExportError(
                f"--to gguf: this {tok.describe()} vocabulary has tokens whose bytes repeat another's, which "
                "llama.cpp's vocabulary (one id per string) cannot hold; retrain it with another vocab_size"
            )
        merges = [f"{tokens[a]} {tokens[b]}" for a, b in tok.merges]
        return tokens, [NORMAL] * n + [CONTROL] * len(tok.specials), merges, PRE[tok.pattern]
    raise ExportError(
        f"--to gguf: llama.cpp has no {tok.name}-level tokenizer that reproduces lmladder's; export it with --to hf, "
        "or train with data.tokenizer=char, byte or bpe"
    )


def _writer(gguf):
    class Writer(gguf.GGUFWriter):
        """GGUF allows an empty array, gguf-py's writer does not (it takes the type from the first element), but
        llama.cpp's BPE loader needs tokenizer.ggml.merges even when there are none (byte, ASCII char)."""

        def _pack_val(self, val, vtype, add_vtype, sub_type=None):
            if vtype == gguf.GGUFValueType.ARRAY and sub_type is not None and len(val) == 0:
                head = self._pack("I", vtype) if add_vtype else b""
                return head + self._pack("I", sub_type) + self._pack("Q", 0)
            return super()._pack_val(val, vtype, add_vtype, sub_type)

    return Writer


def write_gguf(ck: Checkpoint, out: Path) -> None:
    """Write the GGUF file at `out` (a fresh temporary path; the caller renames it into place)."""
    model = ck.model
    c = check_gpt2(model, "gguf", GGUF_ACTIVATIONS)
    tokens, types, merges, pre = gguf_vocabulary(ck.tokenizer)
    if model.wte.weight.dtype != np.float32:
        raise ExportError(f"--to gguf writes float32 weights; this model is {model.wte.weight.dtype}")
    require("gguf", "gguf")
    import gguf

    w = _writer(gguf)(str(out), "gpt2")
    w.add_name(f"lmladder {model.rung} ({ck.tokenizer.describe()})")
    w.add_context_length(c.block_size)
    w.add_embedding_length(c.n_embd)
    w.add_feed_forward_length(4 * c.n_embd)
    w.add_block_count(c.n_layer)
    w.add_head_count(c.n_head)
    w.add_layer_norm_eps(LAYER_NORM_EPS)
    w.add_file_type(gguf.LlamaFileType.ALL_F32)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre(pre)
    w.add_token_list(tokens)
    w.add_token_types(types)
    # llama.cpp's BPE loader requires the key even when empty (byte, ASCII char), which add_token_merges skips
    w.add_key_value(gguf.Keys.Tokenizer.MERGES, merges, gguf.GGUFValueType.ARRAY, sub_type=gguf.GGUFValueType.STRING)
    if (eos := stop_token(ck.tokenizer)) is not None:
        w.add_bos_token_id(eos)
        w.add_eos_token_id(eos)
    w.add_add_bos_token(False)
    for name, arr in gguf_tensors(model).items():
        w.add_tensor(name, arr)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
