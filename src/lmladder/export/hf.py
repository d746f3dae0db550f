"""`--to hf`: a folder that transformers' AutoModelForCausalLM and AutoTokenizer load as they are.

config.json (GPT2LMHeadModel), model.safetensors (GPT-2's names, Conv1D (in, out) weights), tokenizer.json (built
with the `tokenizers` library, see hf_tokenizer.py), tokenizer_config.json and special_tokens_map.json.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..checkpoints import Checkpoint
from .errors import ExportError
from .gpt2 import HF_ACTIVATIONS, check_gpt2, hf_config, hf_state_dict


def _json(path: Path, obj) -> None:
    path.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def write_hf(ck: Checkpoint, out: Path) -> None:
    """Write the export into the fresh folder `out` (the caller renames it into place)."""
    try:
        from safetensors.numpy import save_file
    except ImportError:  # pragma: no cover - safetensors is a dependency of lmladder itself
        raise ExportError("--to hf needs safetensors; pip install 'lmladder[export]'") from None
    model = ck.model
    check_gpt2(model, "hf", HF_ACTIVATIONS)
    from .hf_tokenizer import hf_tokenizer, require

    require("tokenizers", "hf")
    tok, specials = hf_tokenizer(ck.tokenizer)
    tok.save(str(out / "tokenizer.json"))
    names = {k: v for k, v in specials.items() if k.endswith("_token")}
    _json(
        out / "tokenizer_config.json",
        {
            "tokenizer_class": "PreTrainedTokenizerFast",
            "model_max_length": model.config.block_size,
            "clean_up_tokenization_spaces": False,  # lmladder's decode is exact; no spacing fixes after it
            **names,
        },
    )
    _json(out / "special_tokens_map.json", names)
    _json(out / "config.json", hf_config(model, specials))
    save_file(hf_state_dict(model), str(out / "model.safetensors"), metadata={"format": "pt"})
