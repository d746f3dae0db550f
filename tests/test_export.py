"""`lmladder export`: a foreign implementation computes lmladder's numbers. Tiny GPTs trained on char, char-lines,
BPE and word corpora are loaded by transformers (AutoModelForCausalLM + AutoTokenizer: the same ids and text, logits
within 1e-4, the exact val NLL over the whole split, the same greedy continuation) and written as GGUF (every tensor
back equal, llama.cpp's metadata; tests/test_llama_cpp.py runs llama.cpp on it); options and tokenizers a format
cannot express are refused in one line, and nothing is half-written."""

import dataclasses
import json

import numpy as np
import pytest

from lmladder import cli
from lmladder.autograd import no_grad
from lmladder.checkpoints import save_training_checkpoint
from lmladder.data import BPETokenizer, ByteTokenizer, CharTokenizer, WordTokenizer
from lmladder.data import load_text as read_corpus
from lmladder.data.batching import IGNORE_INDEX, eval_batches
from lmladder.export import ExportError, export
from lmladder.export.gguf_file import gguf_tensors
from lmladder.export.gpt2 import ANY_VALUE, GPT2_VALUE, HF_ACTIVATIONS, check_gpt2, leaves
from lmladder.export.hf_tokenizer import hf_tokenizer
from lmladder.inference.sampling import generate, stop_token
from lmladder.inference.scoring import score_splits
from lmladder.io.outputs import MARKER
from lmladder.models import rung_class
from lmladder.models.transformer import GPT, GPTConfig

from .ladder import small_config, tiny_gpt_run
from .shared_data import ODD, shared_file

pytest.importorskip("tokenizers")
gguf = pytest.importorskip("gguf")

BLOCK = 16
PLAY = read_corpus("file", path=shared_file("tinyshakespeare.txt"))
NAMES = "\n".join(read_corpus("file", path=shared_file("names.txt")).splitlines()[:600])
CORPORA = {  # name -> (text, prepare_corpus options)
    "char": (PLAY[:20_000], dict(kind="stream", tokenizer="char")),
    "char-lines": (NAMES, dict(kind="lines", tokenizer="char")),
    "bpe": (PLAY[:20_000], dict(kind="stream", tokenizer="bpe", vocab_size=320)),
    "word": (PLAY[:20_000], dict(kind="stream", tokenizer="word", min_count=2)),
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """name -> (run folder, prepared data): a tiny GPT trained for a few steps on each corpus."""
    return {name: tiny_gpt_run(tmp_path_factory.mktemp(name), text, block_size=BLOCK, **options)
            for name, (text, options) in CORPORA.items()}  # fmt: skip


def _torch():
    """transformers and torch, the foreign implementation (torch is no lmladder dependency: skip without it)."""
    return pytest.importorskip("transformers"), pytest.importorskip("torch")


def _lmladder_model(run):
    from lmladder.checkpoints import load_training_checkpoint

    return load_training_checkpoint(run / "model.safetensors")


@pytest.mark.parametrize("name", CORPORA)
def test_transformers_computes_lmladders_numbers(name, runs, tmp_path, capsys):
    transformers, torch = _torch()
    run, data = runs[name]
    assert cli.main(["export", str(run), "--to", "hf", str(tmp_path / "hf")]) == 0
    assert capsys.readouterr().out.strip() == f"[export] {tmp_path / 'hf'}"
    hf = transformers.AutoModelForCausalLM.from_pretrained(tmp_path / "hf").eval()
    hf_tok = transformers.AutoTokenizer.from_pretrained(tmp_path / "hf")
    ck = _lmladder_model(run)
    tok, model = ck.tokenizer, ck.model
    # the tokenizer: the val split's text (and a held-out piece of the play) to the same ids and back
    val = np.asarray(data.splits["val"])
    texts = [tok.decode(val[:2000]), PLAY[30_000:32_000] if data.kind == "stream" else "\nanna\nbob\n"]
    for text in texts:
        ids = tok.encode(text).tolist()
        assert hf_tok(text)["input_ids"] == ids
        assert hf_tok.decode(ids) == tok.decode(np.array(ids, dtype=np.int64))
    # 8 val windows: logits within 1e-4
    x = np.stack([val[s : s + BLOCK] for s in np.linspace(0, len(val) - BLOCK, 8).astype(int)]).astype(np.int64)
    with no_grad():
        ours = model(x)[0].data
    with torch.no_grad():
        theirs = hf(torch.from_numpy(x)).logits.numpy()
    diff = float(np.abs(ours - theirs).max())
    print(f"{name}: max abs logit difference {diff:.3g}")
    assert diff < 1e-4
    # the exact val NLL to 4 decimals: every val token once, in the windows lmladder's scoring reads (a later
    # window's first positions unscored: IGNORE_INDEX), the sum taken by torch
    total, count, ce = 0.0, 0, torch.nn.functional.cross_entropy
    for x, y in eval_batches(val, kind=data.kind, boundary_id=data.boundary_id, seq_len=BLOCK, batch_size=64):
        with torch.no_grad():
            logits = hf(torch.from_numpy(x)).logits.double().flatten(0, 1)  # (B*T, V)
        total += float(ce(logits, torch.from_numpy(y).flatten(), ignore_index=IGNORE_INDEX, reduction="sum"))
        count += int((y != IGNORE_INDEX).sum())
    exact = score_splits(model, data)["val"]
    print(f"{name}: val NLL {exact['nll']:.7f} (lmladder), {total / count:.7f} (transformers), {count} tokens")
    assert count == exact["tokens"] == len(val) - 1 and f"{total / count:.4f}" == f"{exact['nll']:.4f}"
    # greedy: the same continuation as lmladder's sampling at temperature 0
    prompt = tok.encode(texts[0][:40])[:6] if data.kind == "stream" else tok.encode("\nan")
    new = BLOCK - len(prompt)
    ours = generate(model, prompt[None], new, rng=np.random.default_rng(0), temperature=0.0, stop_id=stop_token(tok))
    with torch.no_grad():
        out = hf.generate(torch.from_numpy(prompt[None]), max_new_tokens=new, do_sample=False,
                          pad_token_id=0, eos_token_id=stop_token(tok))  # fmt: skip
    theirs = out[0, len(prompt) :].tolist()  # both keep the end token where they stop
    assert theirs == ours[0].tolist()


def test_the_cli_sample_and_transformers_agree_on_text(runs, tmp_path, capsys):
    transformers, torch = _torch()
    run, _ = runs["char"]
    export(run, "hf", tmp_path / "hf")
    ckpt = str(run / "model.safetensors")
    args = ["--prompt", "ROMEO:", "--temperature", "0", "--num-samples", "1", "--max-new-tokens", "10"]
    assert cli.main(["sample", ckpt, *args]) == 0
    text = capsys.readouterr().out.split("\n" + "-" * 40)[0]
    hf = transformers.AutoModelForCausalLM.from_pretrained(tmp_path / "hf")
    hf_tok = transformers.AutoTokenizer.from_pretrained(tmp_path / "hf")
    ids = hf_tok("ROMEO:", return_tensors="pt")["input_ids"]
    out = hf.generate(ids, max_new_tokens=10, do_sample=False, pad_token_id=0)
    assert hf_tok.decode(out[0]) == text


@pytest.mark.parametrize("name", ["char", "bpe"])
def test_gguf_holds_every_tensor_and_llama_cpps_metadata(name, runs, tmp_path):
    run, _ = runs[name]
    export(run / "model.safetensors", "gguf", tmp_path / "m.gguf")
    ck = _lmladder_model(run)
    r = gguf.GGUFReader(tmp_path / "m.gguf")
    got = {t.name: np.asarray(t.data) for t in r.tensors}
    want = gguf_tensors(ck.model)
    assert set(got) == set(want)
    assert all(np.array_equal(got[k], want[k]) for k in want)
    assert np.array_equal(got["output.weight"], ck.model.wte.weight.data)  # tied: the embedding, as for GPT-2
    field = lambda key: r.fields[key].contents()  # noqa: E731
    c = ck.model.config
    assert field("general.architecture") == "gpt2"
    assert (field("gpt2.context_length"), field("gpt2.embedding_length"), field("gpt2.block_count")) == (
        c.block_size, c.n_embd, c.n_layer)  # fmt: skip
    assert (field("gpt2.feed_forward_length"), field("gpt2.attention.head_count")) == (4 * c.n_embd, c.n_head)
    assert field("gpt2.attention.layer_norm_epsilon") == pytest.approx(1e-5)
    pre = {"char": "gpt-2", "bpe": "llama-bpe"}[name]  # bpe: the gpt4 pattern, llama 3's pre-tokenizer
    assert field("tokenizer.ggml.model") == "gpt2" and field("tokenizer.ggml.pre") == pre
    assert len(field("tokenizer.ggml.tokens")) == c.vocab_size == len(field("tokenizer.ggml.token_type"))
    assert "tokenizer.ggml.merges" in r.fields  # llama.cpp requires it, even empty (an ASCII char vocabulary)


def test_transformers_reads_the_gguf_back(runs, tmp_path):
    """transformers' own GGUF loader (it needs accelerate) computes the same logits and ids from the file."""
    transformers, torch = _torch()
    pytest.importorskip("accelerate")
    run, data = runs["bpe"]
    export(run, "gguf", tmp_path / "m.gguf")
    # transformers maps GGUF's context_length to n_ctx but sizes the position table by n_positions: say it
    hf = transformers.AutoModelForCausalLM.from_pretrained(tmp_path, gguf_file="m.gguf", n_positions=BLOCK)
    hf_tok = transformers.AutoTokenizer.from_pretrained(tmp_path, gguf_file="m.gguf")
    tok, model = data.tokenizer, _lmladder_model(run).model
    text = PLAY[30_000:31_000]
    assert hf_tok(text)["input_ids"] == tok.encode(text).tolist()
    x = np.asarray(data.splits["val"][:BLOCK], dtype=np.int64)[None]
    with no_grad():
        ours = model(x)[0].data
    with torch.no_grad():
        theirs = hf(torch.from_numpy(x)).logits.numpy()
    assert np.abs(ours - theirs).max() < 1e-4


@pytest.mark.parametrize("activation", ["gelu", "gelu_exact", "relu", "relu2", "tanh"])
@pytest.mark.parametrize(("bias", "tie"), [(False, True), (True, False)])
def test_every_gpt2_option_round_trips(activation, bias, tie, tmp_path):
    transformers, torch = _torch()
    tok = CharTokenizer.build("hello world, the quick brown fox.\n")
    c = GPTConfig(block_size=12, n_layer=2, n_head=2, n_embd=8, vocab_size=tok.vocab_size, activation=activation,
                  bias=bias, tie_weights=tie)  # fmt: skip
    model = GPT(c, rng=np.random.default_rng(0))
    noise = np.random.default_rng(1)
    for p in model.parameters():  # away from init's zero biases and unit gains, so every tensor matters
        p.data[...] += noise.normal(0, 0.3, p.data.shape).astype(np.float32)
    save_training_checkpoint(tmp_path / "m.safetensors", model, tok)
    export(tmp_path / "m.safetensors", "hf", tmp_path / "hf")
    config = json.loads((tmp_path / "hf" / "config.json").read_text())
    assert config["tie_word_embeddings"] is tie and config["n_ctx"] == config["n_positions"] == 12
    hf = transformers.AutoModelForCausalLM.from_pretrained(tmp_path / "hf")
    x = tok.encode("the quick br")[None]
    with no_grad():
        ours = model(x)[0].data
    with torch.no_grad():
        theirs = hf(torch.from_numpy(x)).logits.numpy()
    assert np.abs(ours - theirs).max() < 1e-4


@pytest.mark.parametrize(
    "tok",
    [
        CharTokenizer.build(PLAY[:9000] + ODD + "<|endoftext|>"),
        CharTokenizer.build(PLAY[:300], others=[PLAY[:5000] + ODD]),  # with an unknown token
        CharTokenizer.build(NAMES, lines=True),
        ByteTokenizer(),
        WordTokenizer.build(PLAY[:5000] + ODD),
        WordTokenizer.build(NAMES, lines=True),
        BPETokenizer.train(PLAY[:5000], 300, pattern="gpt2"),
        BPETokenizer.train(PLAY[:5000], 300, pattern="gpt4"),
        BPETokenizer.train(PLAY[:5000], 300, pattern="none"),
        BPETokenizer.train(NAMES, 300, lines=True),
    ],
    ids=[
        "char",
        "char-unk",
        "char-lines",
        "byte",
        "word",
        "word-lines",
        "bpe-gpt2",
        "bpe-gpt4",
        "bpe-none",
        "bpe-lines",
    ],  # fmt: skip
)
def test_tokenizer_json_gives_the_same_ids_and_text(tok):
    """Odd text: combining marks, U+001C, no-break and line-separator spaces, curly quotes, long s, digits of other
    scripts, emoji, CR LF, runs of newlines and <|endoftext|>; Python's classes, not Oniguruma's, decide."""
    t, _ = hf_tokenizer(tok)
    lines = tok.boundary_id is not None
    text = "\n" + NAMES[:3000] + "\n" if lines else PLAY[5000:9000] + ODD + "<|endoftext|>" + ODD
    ids = tok.encode(text).tolist()
    assert t.encode(text).ids == ids
    assert t.decode(ids, skip_special_tokens=False) == tok.decode(np.array(ids, dtype=np.int64))


def _gpt_checkpoint(path, tok=None, **options):
    tok = tok or CharTokenizer.build("abcdefgh ij\n")
    c = GPTConfig(block_size=8, n_layer=2, n_head=2, n_embd=8, vocab_size=tok.vocab_size, **options)
    save_training_checkpoint(path, GPT(c, rng=np.random.default_rng(0)), tok)
    return path


@pytest.mark.parametrize(
    ("options", "field"),
    [
        (dict(norm="rmsnorm"), "transformer.model.norm='rmsnorm'"),
        (dict(pos="rope"), "transformer.model.pos='rope'"),
        (dict(qk_norm=True), "transformer.model.qk_norm=True"),
        (dict(logit_softcap=15.0), "transformer.model.logit_softcap=15.0"),
        (dict(value_embeds=True), "transformer.model.value_embeds=True"),
        (dict(value_residual=True), "transformer.model.value_residual=True"),
        (dict(n_kv_head=1), "transformer.model.n_kv_head=1"),
        (dict(lookback=dict(smear=dict(enabled=True))), "transformer.model.lookback.smear.enabled=True"),
        (dict(lookback=dict(ngram=dict(order=2))), "transformer.model.lookback.ngram.order=2"),
        (dict(lookback=dict(conv=dict(kernel=2))), "transformer.model.lookback.conv.kernel=2"),
        (dict(lookback=dict(ngram=dict(order=3))), "transformer.model.lookback.ngram.order=3"),
    ],
)
@pytest.mark.parametrize("to", ["hf", "gguf"])
def test_what_gpt2_cannot_express_is_refused_by_name(options, field, to, tmp_path):
    ckpt = _gpt_checkpoint(tmp_path / "m.safetensors", **options)
    out = tmp_path / ("hf" if to == "hf" else "m.gguf")
    with pytest.raises(ExportError, match=f"cannot express {field.replace('.', '[.]')}") as e:
        export(ckpt, to, out)
    assert "\n" not in str(e.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.safetensors"]  # nothing written, no temporary left


def _paths(cls, prefix=""):
    """The path of every field of a config class, a group's fields by their dotted path (lookback.ngram.order)."""
    out = []
    for f in dataclasses.fields(cls):
        out += _paths(f.default_factory, f"{prefix}{f.name}.") if dataclasses.is_dataclass(f.default_factory) else []
        out += [] if dataclasses.is_dataclass(f.default_factory) else [prefix + f.name]
    return out


@pytest.mark.parametrize("path", _paths(GPTConfig))
def test_every_field_of_the_gpt_is_allowed_or_held_at_gpt2s_value_by_the_exporters(path):
    """A new option of GPTConfig (or of one of its groups) fails here until the exporters decide: GPT-2's layout
    expresses it at any value, or it does not change inference (ANY_VALUE), or GPT-2 has it at one value
    (GPT2_VALUE)."""
    assert (path in ANY_VALUE) != (path in GPT2_VALUE), f"export/gpt2.py lists {path} in neither or both lists"
    if path in GPT2_VALUE:  # GPT-2's value is the field's default: the GPT's defaults are GPT-2
        assert leaves(GPTConfig())[path] == (GPT2_VALUE[path][0], GPT2_VALUE[path][0])
    assert set(ANY_VALUE) | set(GPT2_VALUE) <= set(_paths(GPTConfig)), "export/gpt2.py lists a field GPTConfig lacks"


def test_a_field_the_exporters_do_not_know_is_refused_off_its_default(tmp_path):
    """An option added to GPTConfig before the exporters list it: exported at its default, refused at another."""
    newer = dataclasses.make_dataclass("NewerConfig", [("new_option", int, dataclasses.field(default=0))],
                                       bases=(GPTConfig,))  # fmt: skip
    model = GPT(GPTConfig(block_size=8, n_layer=1, n_head=2, n_embd=8, vocab_size=5), rng=np.random.default_rng(0))
    model.config = newer(**dataclasses.asdict(model.config))
    assert check_gpt2(model, "hf", HF_ACTIVATIONS) is model.config
    model.config.new_option = 3
    with pytest.raises(ExportError, match=r"cannot express transformer.model.new_option=3: it has no such option"):
        check_gpt2(model, "gguf", HF_ACTIVATIONS)


@pytest.mark.parametrize(
    ("tok", "options", "message"),
    [
        (WordTokenizer.build("to be or not to be"), {}, "llama.cpp has no word-level tokenizer"),
        (CharTokenizer.build("abc", others=["abcd"]), {}, "maps unseen characters to"),
        (BPETokenizer.train("a rose is a rose " * 8, 262, pattern="none"), {}, "no pre-tokenizer for"),
        (None, dict(activation="relu"), "cannot express transformer.model.activation='relu'"),
    ],
    ids=["word", "char-unk", "bpe-none", "relu"],
)
def test_what_llama_cpp_cannot_express_is_refused(tok, options, message, tmp_path):
    ckpt = _gpt_checkpoint(tmp_path / "m.safetensors", tok, **options)
    with pytest.raises(ExportError, match=message):
        export(ckpt, "gguf", tmp_path / "m.gguf")
    assert not (tmp_path / "m.gguf").exists()


def test_outputs_are_replaced_only_with_force_and_never_swallow_the_checkpoint(tmp_path):
    ckpt = _gpt_checkpoint(tmp_path / "run" / "model.safetensors")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")
    not_ours = r"full is not an earlier `lmladder export --to hf` output \(it holds keep.txt, which no --to hf export"
    for force in (False, True):  # --force replaces an export, never a user's files: refused either way
        with pytest.raises(ExportError, match=not_ours):
            export(tmp_path / "run", "hf", tmp_path / "full", force=force)
        assert (tmp_path / "full" / "keep.txt").read_text() == "mine"
    (tmp_path / "empty").mkdir()
    export(ckpt, "hf", tmp_path / "empty")  # an empty folder is no one's work
    with pytest.raises(ExportError, match=r"empty holds an earlier `lmladder export --to hf` output; pass --force"):
        export(ckpt, "hf", tmp_path / "empty")
    export(tmp_path / "run", "hf", tmp_path / "empty", force=True)  # an earlier hf export: replaced
    hf = ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"]
    assert sorted(p.name for p in (tmp_path / "empty").iterdir()) == sorted([*hf, MARKER])
    (tmp_path / "empty" / MARKER).unlink()  # an export made before the marker: still recognised by its files
    export(ckpt, "hf", tmp_path / "empty", force=True)
    assert (tmp_path / "empty" / MARKER).is_file()
    export(ckpt, "gguf", tmp_path / "m.gguf")
    with pytest.raises(ExportError, match=r"m.gguf exists; pass --force"):
        export(ckpt, "gguf", tmp_path / "m.gguf")
    export(ckpt, "gguf", tmp_path / "m.gguf", force=True)
    (tmp_path / "notes.gguf").write_text("my notes")
    with pytest.raises(ExportError, match=r"notes.gguf is not an earlier --to gguf export \(it does not start"):
        export(ckpt, "gguf", tmp_path / "notes.gguf", force=True)
    assert (tmp_path / "notes.gguf").read_text() == "my notes"
    with pytest.raises(ExportError, match=r"is a folder, but --to gguf writes one file"):
        export(ckpt, "gguf", tmp_path / "full", force=True)
    with pytest.raises(ExportError, match=r"holds the checkpoint being exported"):
        export(ckpt, "hf", tmp_path / "run", force=True)
    assert ckpt.exists()
    with pytest.raises(ExportError, match=r"--to 'onnx' is no format lmladder exports; choose one of hf: .*gguf"):
        export(ckpt, "onnx", tmp_path / "x")
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary left behind


def test_other_rungs_are_told_which_formats_take_them(tmp_path):
    tok = CharTokenizer.build("abcdefgh ij\n")
    model = rung_class("mlp")(small_config("mlp", tok.vocab_size), rng=np.random.default_rng(0))
    save_training_checkpoint(tmp_path / "m.safetensors", model, tok)
    with pytest.raises(
        ExportError,
        match=r"holds a mlp model, which --to hf cannot take \(formats by rung: hf: "
        r"transformer; gguf: transformer; arpa: bigram\); no format takes a mlp model yet",
    ):
        export(tmp_path / "m.safetensors", "hf", tmp_path / "hf")
