"""`lmladder inspect`: a folder of PNGs about one run or checkpoint, and index.html that shows them all (the images
embedded, so the page is one self-contained file). Every picture that applies to the model is drawn:

    loss curves, update:data ratios          from the run folder's logs (train_log, eval_log, health_params.tsv)
    activation and gradient histograms       one forward + backward of a batch the model samples itself (eval mode)
    attention maps (GPT), next-token table   along the prompt
    token embeddings (PCA), transitions      from the weights; transitions = P(next | one token), for every rung

A picture that cannot be drawn for this model (token embeddings of one dimension) or fails is a note on the page
in its place; it never costs the other pictures (`lmladder inspect` and the evaluate stage go on).
"""

from __future__ import annotations

import base64
import html
import io
import os
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from .. import nn
from ..checkpoints import Checkpoint, load_training_checkpoint
from ..errors import LmladderError
from ..inference.positions import PositionCurve
from ..inference.sampling import generate, start_token
from ..io import atomic_directory, checkpoint_path
from ..training.health import activation_stats, attention_probs, capture, probes
from . import figures

MAX_TRANSITIONS = 512  # vocabularies above this get no V x V transition image (it would be unreadable)
TOP = 5  # next-token candidates shown per prompt position


class InspectError(LmladderError, ValueError):
    """The run, checkpoint or an option cannot be inspected; the message names it and the fix."""


_SHOWN = {"\n": "⏎", " ": "␣", "\t": "⇥"}


def label(tok, i: int) -> str:
    """A short printable label for token id i: a newline as ⏎, a space as ␣, a tab as ⇥, and what is no printable
    character (a control byte, a piece of a UTF-8 sequence in a byte or BPE token) escaped as \\xNN: raw, it
    reached the terminal as control codes and the picture as missing glyphs."""
    if i == tok.boundary_id:
        return "⏎"
    raw = tok.token_bytes(i) if hasattr(tok, "token_bytes") else None
    text = raw.decode("utf-8", "backslashreplace") if raw is not None else tok.decode(np.array([i]))
    shown = (_SHOWN.get(c) or (c if c.isprintable() else c.encode("unicode_escape").decode("ascii")) for c in text)
    return "".join(shown) or "∅"


def _read_tsv(path: Path) -> pd.DataFrame | None:
    return pd.read_csv(path, sep="\t") if path.is_file() else None


def png(fig) -> bytes:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    with warnings.catch_warnings():  # a token in a script the font lacks is drawn as a box, not a warning per glyph
        warnings.filterwarnings("ignore", message=r"Glyph \d+ .*missing from", category=UserWarning)
        fig.savefig(buf, format="png", dpi=100, metadata={"Software": None})  # no version stamp: the same bytes
    plt.close(fig)
    return buf.getvalue()


class _Pictures:
    """The page's items in order: (file stem, title, PNG bytes, None) or, for a picture not drawn, (None, title,
    None, why). Each picture is drawn and rendered on its own, so one that fails costs only itself."""

    def __init__(self, log: Callable[[str], object]):
        self.items: list[tuple[str | None, str, bytes | None, str | None]] = []
        self.log = log

    def draw(self, stem: str, title: str, make: Callable[[], object]) -> None:
        data = self.attempt(title, lambda: png(make()))
        if data is not None:
            self.items.append((stem, title, data, None))

    def attempt(self, title: str, work: Callable[[], object]):
        """work(), or None with a note on the page when it fails (LMLADDER_DEBUG=1: the traceback instead)."""
        try:
            return work()
        except figures.NotApplicable as e:
            why = f"not drawn: {e}"
        except Exception as e:  # noqa: BLE001 - a picture must never cost the page
            if os.environ.get("LMLADDER_DEBUG"):
                raise
            why = f"not drawn: {type(e).__name__}: {e} (a bug; LMLADDER_DEBUG=1 shows the traceback)"
        figures.close_all()
        self.items.append((None, title, None, why))
        self.log(f"{title}: {why}")
        return None


def inspect_run(
    target: str | Path,
    out_dir: str | Path | None = None,
    *,
    prompt_ids=None,
    layer: int | None = None,
    seed: int = 0,
    log: Callable[[str], object] = lambda _: None,
    positions: PositionCurve | str | Callable[[Checkpoint], PositionCurve | str] | None = None,
) -> Path:
    """Draw every picture that applies to `target` (a run folder or checkpoint) into `out_dir` (default:
    <run>/inspect) with index.html; `prompt_ids` (encoded) for the attention maps and next-token table (default:
    the start of a sample), `layer` to draw one attention layer only; `log` gets one line per picture not drawn;
    `positions`: the model's loss against position (inference/positions.py) to draw, why there is none, or a
    function of the checkpoint that returns either.
    Returns the page's path."""
    ckpt = checkpoint_path(target, error=InspectError)
    run = ckpt.parent
    ck = load_training_checkpoint(ckpt)
    model, tok = ck.model, ck.tokenizer
    rng = np.random.default_rng(seed)
    attns = probes(model)[1]
    if layer is not None and not 0 <= layer < len(attns):
        has = f"attention layers 0..{len(attns) - 1}" if attns else "no attention layers"
        raise InspectError(f"--layer {layer}: this {model.rung} model has {has}; leave --layer out to draw them all")
    T = min(model.window(64), 64)  # rows of at most 64 tokens, within the context
    start = start_token(tok)
    batch = np.stack([np.concatenate([[start], r]) for r in generate(model, np.full((8, 1), start), T, rng=rng)])
    if prompt_ids is None:
        prompt_ids = batch[0, : min(16, T)]
    prompt_ids = np.asarray(prompt_ids, dtype=np.int64)
    if model.block_size and len(prompt_ids) > model.block_size:
        raise InspectError(
            f"--prompt has {len(prompt_ids)} tokens, more than this model's context of {model.block_size}; shorten it"
        )
    pics = _Pictures(log)
    train_log, eval_log = _read_tsv(run / "train_log.tsv"), _read_tsv(run / "eval_log.tsv")
    if train_log is not None or eval_log is not None:
        pics.draw("loss", "Loss curves", lambda: figures.loss_curves(train_log, eval_log))
    params = _read_tsv(run / "health_params.tsv")
    if params is not None and len(params):
        pics.draw("update_data", "Update:data ratio", lambda: figures.update_ratios(params))
    _position_picture(pics, model.rung, positions(ck) if callable(positions) else positions)
    _batch_pictures(pics, model, batch)
    _prompt_pictures(pics, model, tok, prompt_ids, layer)
    V = model.vocab_size
    emb = next((m for m in model.modules() if isinstance(m, nn.Embedding) and m.weight.shape[0] == V), None)
    labels = [label(tok, i) for i in range(V)]
    if emb is not None:
        pics.draw("embeddings", "Token embeddings (PCA)", lambda: figures.embedding_pca(emb.weight.data, labels))
    if V <= MAX_TRANSITIONS:
        probs = lambda: _softmax(_logits(model, np.arange(V)[:, None])[:, -1])  # noqa: E731 - (V, V)
        pics.draw("transitions", "Transitions", lambda: figures.transitions(probs(), labels))
    out = Path(out_dir) if out_dir is not None else run / "inspect"
    with atomic_directory(out) as tmp:
        for stem, _, data, _ in pics.items:
            if data is not None:
                (tmp / f"{stem}.png").write_bytes(data)
        (tmp / "index.html").write_text(_page(ckpt, ck, pics.items), encoding="utf-8")
    return out / "index.html"


def _logits(model, idx: np.ndarray) -> np.ndarray:
    from ..autograd import no_grad

    with model.evaluating(), no_grad():
        return model(idx)[0].data.astype(np.float64)


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _position_picture(pics: _Pictures, rung: str, positions: PositionCurve | str | None) -> None:
    title = "Loss against position in the context"
    if isinstance(positions, PositionCurve):
        pics.draw(
            "positions", title, lambda: figures.loss_by_position({rung: (positions.mean, positions.context_used())})
        )
    elif positions:
        pics.attempt(title, lambda: _not_applicable(positions))


def _not_applicable(why: str):
    raise figures.NotApplicable(why)


def _batch_pictures(pics: _Pictures, model, batch: np.ndarray) -> None:
    """Activation histograms of a forward pass and gradient histograms of its backward (eval mode, no update)."""
    if not model.trainable:
        return
    acts: list = []

    def forward_backward():
        with model.evaluating():
            try:
                with capture(model, lambda name, kind, y: acts.append((name, kind, y)), lambda *a: None):
                    _, loss = model(batch[:, :-1], batch[:, 1:])
                loss.backward()
                return [
                    (n, p.grad.copy()) for n, p in model.named_parameters() if p.grad is not None and p.data.ndim == 2
                ]
            finally:
                model.zero_grad()

    grads = pics.attempt("Activation and gradient histograms", forward_backward)
    if grads is None:
        return
    kinds = {name: kind for name, kind, _ in acts}

    def note(name, a):
        _, _, saturated, dead = activation_stats(a, kinds[name])
        return f"saturated {saturated:.1%}" if kinds[name] == "tanh" else f"dead {dead:.1%}"

    if acts:
        hist = [(n, y) for n, _, y in acts]
        pics.draw(
            "activations",
            "Activation histograms",
            lambda: figures.histograms(hist, "Activations per layer", "activation", note),
        )
    if grads:
        pics.draw("gradients", "Gradient histograms", lambda: figures.histograms(grads, "Weight gradients", "gradient"))


def _prompt_pictures(pics: _Pictures, model, tok, ids: np.ndarray, layer: int | None) -> None:
    labels = [label(tok, int(i)) for i in ids]
    maps: list = []

    def forward():
        with capture(model, lambda *a: None, lambda name, h, qkv: maps.append((name, attention_probs(qkv, h)[0]))):
            return _logits(model, ids[None])[0]  # (T, V)

    logits = pics.attempt("Attention maps and next-token probabilities", forward)
    if logits is None:
        return
    if maps:
        chosen = maps if layer is None else [maps[layer]]
        pics.draw("attention", "Attention maps", lambda: figures.attention_maps(chosen, labels))

    def next_tokens():
        probs = _softmax(logits)
        order = np.argsort(-probs, axis=-1, kind="stable")[:, :TOP]
        top = [[(label(tok, int(j)), float(p[j])) for j in row] for p, row in zip(probs, order, strict=True)]
        return figures.next_token_table(labels, top)

    pics.draw("next_tokens", "Next-token probabilities", next_tokens)


def _page(ckpt: Path, ck: Checkpoint, items: list) -> str:
    meta = ck.meta
    head = f"{ck.model.rung} from {ckpt} (step {meta.get('step', '?')}, seed {meta.get('seed', '?')})"
    if ck.trained is not None:  # train.average: the model is the average, what the run scored
        avg = meta["average"] if isinstance(meta.get("average"), dict) else {}
        how = "mean (SWA)" if avg.get("swa") else f"EMA (decay {avg.get('ema')})"
        head += f"; its weights are the {how} of the trained weights over {avg.get('count')} steps"
    parts = [
        "<!doctype html><meta charset='utf-8'><title>lmladder inspect</title>",
        "<style>body{font-family:sans-serif;max-width:1000px;margin:auto}img{max-width:100%}</style>",
        f"<h1>lmladder inspect</h1><p>{html.escape(head)}</p>",
        f"<pre>{html.escape(str(meta['model']['config']))}</pre>",
    ]
    for stem, title, data, why in items:
        if data is None:
            parts.append(f"<h2>{html.escape(title)}</h2><p class='note'>{html.escape(why)}</p>")
            continue
        b64 = base64.b64encode(data).decode("ascii")
        parts.append(f"<h2>{html.escape(title)}</h2><img alt='{stem}' src='data:image/png;base64,{b64}'>")
    return "\n".join(parts) + "\n"
