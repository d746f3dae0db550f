"""llama.cpp itself (through llama-cpp-python) loads `lmladder export --to gguf` and computes lmladder's numbers:
the same ids for the val text (and odd text, byte-level vocabularies), the same logits (to 1e-4 once llama.cpp's
float16 GELU is emulated), the same greedy text as `lmladder sample --temperature 0`, for tiny GPTs on char, byte,
BPE (gpt2 and gpt4 patterns) and names (lines) corpora. Skipped without llama_cpp (no lmladder dependency:
`pip install llama-cpp-python` compiles llama.cpp)."""

import numpy as np
import pytest

from lmladder import cli
from lmladder.autograd import Tensor, no_grad
from lmladder.checkpoints import load_training_checkpoint
from lmladder.data import load_text as read_corpus
from lmladder.export import export
from lmladder.inference.sampling import stop_token
from lmladder.nn import GELU

from .ladder import tiny_gpt_run
from .shared_data import ODD, shared_file

llama_cpp = pytest.importorskip("llama_cpp")
pytest.importorskip("gguf")

BLOCK = 16
STEPS = 1000  # enough for greedy text that is not one token repeated
# llama.cpp's CPU GELU reads a float16 table at the input rounded to float16 (ggml-cpu/vec.h, GGML_GELU_FP16), so an
# f32 file's logits drift from lmladder's as activations grow with training: 4e-5 after 8 steps, 1.9e-3 after 1000.
# With that GELU emulated in lmladder they agree to <= 5e-5 (float32 rounding, an odd float16 step of tanh vs tanhf).
EMULATED_TOL, PLAIN_TOL = 1e-4, 1e-2
PLAY = read_corpus("file", path=shared_file("tinyshakespeare.txt"))
NAMES = "\n".join(read_corpus("file", path=shared_file("names.txt")).splitlines()[:600])
CORPORA = {  # name -> (text, prepare_corpus options, a prompt)
    "char": (PLAY[:20_000], dict(kind="stream", tokenizer="char"), "ROMEO:"),
    "byte": (PLAY[:20_000], dict(kind="stream", tokenizer="byte"), "ROMEO:"),
    "bpe-gpt2": (PLAY[:20_000], dict(kind="stream", tokenizer="bpe", vocab_size=320, pattern="gpt2"), "ROMEO:"),
    "bpe-gpt4": (PLAY[:20_000], dict(kind="stream", tokenizer="bpe", vocab_size=320, pattern="gpt4"), "ROMEO:"),
    "names": (NAMES, dict(kind="lines", tokenizer="char"), "an"),
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """name -> (gguf file, checkpoint, prepared data): a tiny GPT trained on each corpus, exported."""
    out = {}
    for name, (text, options, _) in CORPORA.items():
        root = tmp_path_factory.mktemp(name)
        run, data = tiny_gpt_run(root, text, block_size=BLOCK, max_iters=STEPS, **options)
        export(run, "gguf", root / "m.gguf")
        out[name] = root / "m.gguf", run / "model.safetensors", data
    return out


def _llama(path, **options):
    """llama.cpp on one thread, its KV cache in float32 (the default f16 cache would round keys and values)."""
    f32 = llama_cpp.GGML_TYPE_F32
    return llama_cpp.Llama(str(path), n_ctx=BLOCK, n_batch=BLOCK, n_threads=1, n_threads_batch=1, type_k=f32,
                           type_v=f32, verbose=False, **options)  # fmt: skip


@pytest.mark.parametrize("name", CORPORA)
def test_llama_cpp_tokenizes_the_val_text_as_lmladder(name, runs):
    path, _, data = runs[name]
    llm, tok = _llama(path, vocab_only=True), data.tokenizer
    val = np.asarray(data.splits["val"])
    texts = [tok.decode(val)]  # the whole val split, whose ids prepare wrote
    assert tok.encode(texts[0]).tolist() == val.tolist()
    if hasattr(tok, "token_bytes"):  # byte-level (byte, BPE): any text, so llama.cpp's pre-split regex on odd text
        texts.append(ODD + "<|endoftext|>" + PLAY[30_000:31_000] + ODD)
    for text in texts:
        ids = tok.encode(text).tolist()
        assert llm.tokenize(text.encode("utf-8"), add_bos=False, special=True) == ids
        assert llm.detokenize(ids, special=True) == text.encode("utf-8")
    assert llm.tokenize(b"ab", add_bos=True) == llm.tokenize(b"ab", add_bos=False)  # no bos: lmladder adds none


def _ggml_gelu(self, x):
    """GELU (tanh approximation) as llama.cpp's CPU backend computes it: ggml_gelu_f32's float32 arithmetic on the
    input rounded to float16, the result rounded to float16 (its table), exact outside (-10, 10). In float64 the
    table would differ by one float16 step here and there, worth 1e-4 in the logits."""
    h = x.data.astype(np.float16).astype(np.float32)
    c, a = np.float32(np.sqrt(2 / np.pi)), np.float32(0.044715)
    table = (0.5 * h * (1 + np.tanh(c * h * (1 + a * h * h)))).astype(np.float16)
    return Tensor(np.where(x.data <= -10, 0, np.where(x.data >= 10, x.data, table)).astype(np.float32))


@pytest.mark.parametrize("name", CORPORA)
def test_llama_cpp_computes_lmladders_logits(name, runs, monkeypatch):
    path, ckpt, data = runs[name]
    llm, model = _llama(path, logits_all=True), load_training_checkpoint(ckpt).model
    val = np.asarray(data.splits["val"], dtype=np.int64)
    x = np.stack([val[s : s + BLOCK] for s in np.linspace(0, len(val) - BLOCK, 8).astype(int)])  # (8, T)
    theirs = []
    for row in x.tolist():
        llm.reset()
        llm.eval(row)
        theirs.append(llm.scores[:BLOCK].copy())  # (T, V): logits_all keeps every position's
    with no_grad():
        ours = model(x)[0].data  # (8, T, V)
        monkeypatch.setattr(GELU, "forward", _ggml_gelu)
        emulated = model(x)[0].data
    plain, exact = (float(np.abs(a - np.stack(theirs)).max()) for a in (ours, emulated))
    print(f"{name}: max abs logit difference {plain:.3g}, {exact:.3g} with llama.cpp's float16 GELU")
    assert exact < EMULATED_TOL and plain < PLAIN_TOL


@pytest.mark.parametrize("name", CORPORA)
def test_llama_cpp_continues_greedily_as_lmladder_sample(name, runs, capsys):
    path, ckpt, data = runs[name]
    tok, prompt = data.tokenizer, CORPORA[name][2]
    stop, typed = stop_token(tok), tok.encode(prompt).tolist()
    # lmladder sample starts a names document after the boundary; llama.cpp is handed that token in the prompt
    ids = typed if tok.boundary_id is None else [tok.boundary_id, *typed]
    new = BLOCK - len(ids)  # within the context: past it lmladder crops the prompt, llama.cpp aborts (cli.md)
    args = ["--prompt", prompt, "--temperature", "0", "--num-samples", "1", "--max-new-tokens", str(new)]
    assert cli.main(["sample", str(ckpt), *args]) == 0
    ours = capsys.readouterr().out.removesuffix("\n" if tok.boundary_id is not None else "\n" + "-" * 40 + "\n")
    llm = _llama(path)
    # the end token: lmladder's where it has one; else llama.cpp's GPT-2 default 11, which no GGUF key unsets
    assert llm.token_eos() == (11 if stop is None else stop)
    theirs = []
    for t in llm.generate(ids, temp=0.0):  # llama.cpp's greedy sampler
        if t == stop or len(theirs) == new:
            break
        theirs.append(t)
    assert llm.detokenize(typed + theirs, special=True).decode("utf-8", errors="replace") == ours
