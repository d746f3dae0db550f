"""Byte-level BPE speed and compression on Tiny Shakespeare (first 90% train, the rest val): training time to vocab
512 / 1,024 / 4,096 with the gpt4 pre-split (1,024 also with gpt2 and none), then for each trained tokenizer encode
and decode speed over the whole file and bytes per token on val. One JSON line per workload; times are the median of
--repeats. All of it is single-core Python + NumPy (no BLAS), so --threads only pins NumPy's pools for the record.

    nice -n 19 python benchmarks/bench_tokenizers.py [--repeats 3] [--threads 1] > tokenizers.jsonl

MB = 10^6 UTF-8 bytes. encode_cold: a fresh tokenizer (rebuilt from its dict: empty chunk cache), so every unique
chunk is merged once; encode_warm: the same tokenizer again (cache full). Without a pre-split ("none") the whole file
is one chunk, merged by a NumPy pass per merge, and the cache does not apply.
"""

from __future__ import annotations

import argparse
import json

from _common import SHARED, machine_info, median_time, set_threads

TRAIN = [("gpt4", 512), ("gpt4", 1024), ("gpt4", 4096), ("gpt2", 1024), ("none", 1024)]


def train_row(train: str, pattern: str, vocab_size: int, repeats: int):
    from lmladder.data.tokenizers.bpe import BPETokenizer

    train_s, tok = median_time(lambda: BPETokenizer.train(train, vocab_size, pattern=pattern), repeats)
    row = {
        "workload": "bpe_train",
        "pattern": pattern,
        "vocab_size": vocab_size,
        "merges": len(tok.merges),
        "train_chars": len(train),
        "train_bytes": len(train.encode()),
        "train_s": round(train_s, 3),
        "repeats": repeats,
    }
    return row, tok


def codec_row(text: str, val: str, tok, repeats: int) -> dict:
    from lmladder.data.tokenizers.bpe import BPETokenizer

    mb = len(text.encode()) / 1e6
    cold_s, ids = median_time(lambda: BPETokenizer.from_dict(tok.to_dict()).encode(text), repeats)
    warm = BPETokenizer.from_dict(tok.to_dict())
    warm.encode(text)
    warm_s, _ = median_time(lambda: warm.encode(text), repeats)
    decode_s, back = median_time(lambda: warm.decode(ids), repeats)
    assert back == text, "decode(encode(text)) != text"
    val_tokens = len(warm.encode(val))
    return {
        "workload": "bpe_codec",
        "pattern": tok.pattern,
        "vocab_size": tok.vocab_size,
        "mb": round(mb, 3),
        "tokens": len(ids),
        "encode_cold_s": round(cold_s, 3),
        "encode_cold_mb_per_s": round(mb / cold_s, 2),
        "encode_warm_s": round(warm_s, 3),
        "encode_warm_mb_per_s": round(mb / warm_s, 2),
        "decode_s": round(decode_s, 3),
        "decode_mb_per_s": round(mb / decode_s, 1),
        "decode_tokens_per_s": round(len(ids) / decode_s),
        "val_bytes_per_token": round(len(val.encode()) / val_tokens, 3),
        "repeats": repeats,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    set_threads(args.threads)
    print(json.dumps(machine_info(args.threads)), flush=True)
    text = (SHARED / "tinyshakespeare.txt").read_text()
    n = int(0.9 * len(text))  # 1,003,854 chars: nanoGPT's split
    train, val = text[:n], text[n:]
    for pattern, vocab_size in TRAIN:
        row, tok = train_row(train, pattern, vocab_size, args.repeats)
        print(json.dumps(row), flush=True)
        print(json.dumps(codec_row(text, val, tok, args.repeats)), flush=True)


if __name__ == "__main__":
    main()
