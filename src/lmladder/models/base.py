"""The one model contract of the ladder (makemore's), the checks every model config shares, and the pieces several
rungs build from (WindowModel, hidden_linear, quiet_head).

Every rung is a `LanguageModel` built from its own config dataclass (nanoGPT's GPTConfig pattern):

    model = GPT(GPTConfig(vocab_size=65, n_layer=4), rng=rng)   # the config is the whole schema
    logits, loss = model(idx, targets)   # idx (B, T) int ids; logits (B, T, V) Tensor; loss = mean CE or None
    logits, _ = model(idx, last_only=True)   # (B, 1, V): only the last position, what sampling needs
    logits, loss = model(idx, y_last, last_only=True)   # y_last (B, 1): train on the last position only
    model.block_size                     # longest input it accepts, or None when any length works
    model.window(seq_len)                # the rows to feed it: block_size, else seq_len, else SCORE_WINDOW
    GPT(GPTConfig(**asdict(model.config)))   # what a checkpoint stores, and how it is rebuilt

so training, evaluation, sampling and checkpoints are written once for all of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from .. import nn
from ..autograd import Tensor
from ..autograd import functional as F
from ..data.batching import IGNORE_INDEX, context_windows
from ..nn import Module
from . import REGISTRY, ModelConfigError

# The log-probability a model gives a target it holds impossible (add-k with k=0, an unseen pair): finite, so targets
# that are ignored (multiplied by 0) never make a NaN; exact scoring counts such targets and reports an infinite NLL.
LOG_ZERO = -1e30
SCORE_WINDOW = 256  # the row length scoring feeds a model that accepts any length (block_size None)


@dataclass(frozen=True)
class Counts:
    """A trained rung's size three ways and its training cost per token, from its config alone (config.counts()):
    what scaling-law fits read (lmladder.frontier), stated once here.

    params: every trainable parameter, a tied weight once: what `num_parameters()` counts (Chinchilla's N).
    non_embedding: params without the lookup tables (token, position, value and bigram embeddings; a head tied to the
        token embedding goes with it): Kaplan et al. (2020)'s N.
    matmul: the weights of the matrix products a token goes through, the head included even when tied (nanochat's
        6N counts these): no biases, norm gains or lookups.
    flops_per_token: training FLOPs per trained token: 6 per multiply-add of those products (2 forward, 4 backward;
        6 x matmul unless a weight is applied more than once per token, as the WaveNet's lower levels are) plus
        attention's 6 x n_layer x context x width for the GPT (Kaplan et al. 2020, Table 1: the causal half of QK^T
        and AV; nanoGPT's and nanochat's estimators count the masked half too, 12). Norms, activations, softmax,
        biases and the optimizer are not counted, as in both estimators.
    """

    params: int
    non_embedding: int
    matmul: int
    flops_per_token: int


def need_vocab(config: Any) -> int:
    """The vocabulary size a count needs (set from the data: models.for_data)."""
    if config.vocab_size is None:
        raise ModelConfigError(f"{type(config).__name__}.counts() needs vocab_size; set it from the data (for_data)")
    return config.vocab_size


def check_ids(config: Any, *names: str) -> None:
    """Token ids of the data fields (pad_id, boundary_id): None or inside the vocabulary."""
    V = config.vocab_size  # a positive integer: bool is an int to Python, but True is no size (metadata may say it)
    if not isinstance(V, int | np.integer) or isinstance(V, bool | np.bool_) or V <= 0:
        raise ModelConfigError(f"vocab_size={V!r} must be a positive integer")
    for name in names:
        v = getattr(config, name)
        if v is not None and not (isinstance(v, int) and not isinstance(v, bool) and 0 <= v < config.vocab_size):
            raise ModelConfigError(f"{name}={v!r} outside the vocabulary [0, {config.vocab_size})")


class LanguageModel(Module):
    rung: ClassVar[str] = ""  # the rung it is, which names its module: lmladder/models/<rung>.py
    ladder_position: ClassVar[int]  # its place on the ladder: models.ladder() sorts the rungs by it, bottom first
    Config: ClassVar[type]  # the config dataclass; `Config().check()` holds every rule about its fields
    trainable: ClassVar[bool] = True  # False for count models fitted with fit()
    sized_by_data: ClassVar[bool] = False  # True: state array lengths come from the data; load_state_dict checks
    # True: forward runs the positions one after another (a recurrent rung), each step's ops on the rows alone, so
    # exact scoring takes wide batches (inference.scoring.score_rows)
    steps_in_turn: ClassVar[bool] = False
    # config fields naming the checkpoints of trained models that fit() is given, loaded, by the same names
    # (lmladder.checkpoints.load_components): the mixture's neural component
    components: ClassVar[tuple[str, ...]] = ()
    # the splits besides train that fit() is given, by name (the mixture's val, where it fits lam)
    tuned_on: ClassVar[tuple[str, ...]] = ()
    # keys of `<rung>.model` renamed since (config.py refuses them, naming the new key): old -> (new, why)
    renamed: ClassVar[dict[str, tuple[str, str]]] = {}

    def fit_summary(self) -> str:
        """What fit() chose that a reader of the run's log should see (the mixture's lam); "" for none."""
        return ""

    config: Any  # the instance of Config it was built from
    vocab_size: int
    block_size: int | None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "rung" in vars(cls):  # a class that sets it, not a subclass inheriting it
            if cls.__module__ != f"{__package__}.{cls.rung}":
                raise TypeError(f"{cls.__name__} has rung = {cls.rung!r}: define it in lmladder/models/{cls.rung}.py")
            REGISTRY[cls.rung] = cls

    def __init__(self, config: Any):
        """Check `config`, its data fields included (they must be set by now: models.for_data), and keep it."""
        config.check()
        check_ids(config, *(f for f in ("pad_id", "boundary_id") if hasattr(config, f)))
        self.config, self.vocab_size = config, config.vocab_size

    @classmethod
    def min_params(cls, config: Any) -> float:  # pragma: no cover - abstract
        """A lower bound on the parameter count of the model `config` describes, from its sizes alone (no build):
        checkpoint loading refuses metadata describing a model far larger than the arrays in the file."""
        raise NotImplementedError

    @classmethod
    def stored_config(cls, fields: dict[str, Any]) -> Any:
        """The Config that the fields a checkpoint stored describe (checkpoints.py, frontier, the mixture): a rung
        whose settings have changed shape since maps the fields of older files here."""
        return cls.Config(**fields)

    @classmethod
    def renamed_weights(cls, fields: dict[str, Any]) -> dict[str, str]:
        """{older name: name} of the weights that a checkpoint storing these config fields holds under an older
        name (checkpoints.py renames them as it loads the file)."""
        return {}

    def forward(self, idx, targets=None, *, last_only=False) -> tuple[Tensor, Tensor | None]:  # pragma: no cover
        raise NotImplementedError

    def window(self, seq_len: int | None = None) -> int:
        """The length of the rows to feed this model, the one rule for training and scoring alike: its own context
        (block_size) when it has one, else `seq_len` (training's TrainSettings.seq_len), else SCORE_WINDOW."""
        return self.block_size or seq_len or SCORE_WINDOW

    @staticmethod
    def loss(logits: Tensor, targets) -> Tensor:
        """Mean cross-entropy over targets that are not IGNORE_INDEX."""
        return F.cross_entropy(logits, np.asarray(targets), ignore_index=IGNORE_INDEX)

    def check_input(self, idx: np.ndarray, targets=None, last_only: bool = False) -> np.ndarray:
        idx = np.asarray(idx.data if isinstance(idx, Tensor) else idx)
        if idx.ndim != 2 or idx.dtype.kind not in "iu":
            raise ModelConfigError(
                f"{type(self).__name__}.forward: idx must be integer ids of shape (B, T), got {idx.dtype} "
                f"{idx.shape}; add a batch dim with idx[None]"
            )
        if targets is not None and np.shape(targets) != (idx.shape[0], 1 if last_only else idx.shape[1]):
            want = "(B, 1): last_only scores the last position" if last_only else "the shape of idx"
            raise ModelConfigError(
                f"{type(self).__name__}.forward: targets of shape {np.shape(targets)} for idx {idx.shape}; "
                f"give targets {want}"
            )
        if self.block_size is not None and idx.shape[1] > self.block_size:
            raise ModelConfigError(
                f"{type(self).__name__}.forward: sequence length {idx.shape[1]} > block_size {self.block_size}; "
                "crop the context to the last block_size tokens"
            )
        return idx


class WindowModel(LanguageModel):
    """A rung whose every position reads its own window of the last `context` tokens, left-padded with pad_id (the
    MLP, the WaveNet): for a lines corpus pad_id is the boundary token, so the first prediction of a word sees
    [boundary]*context exactly as makemore's `X = [0, 0, 0]`. Its config has context, n_embd, pad_id, vocab_size."""

    def __init__(self, config: Any, *, rng: np.random.Generator, dtype):
        super().__init__(config)
        self.context, self.pad_id = config.context, config.pad_id
        self.block_size = None  # any length: each position only looks at its own `context` window
        self.wte = nn.Embedding(config.vocab_size, config.n_embd, rng=rng, dtype=dtype)

    def windows(self, idx: np.ndarray, last_only: bool) -> np.ndarray:
        """(B, T) ids -> (B, T, context) ids, each position's window; with last_only the last `context` positions'
        alone (the last one's window is all a prediction of the next token needs)."""
        if last_only:
            idx = idx[:, -self.context :]  # (B, T) -> (B, <=context)
        return context_windows(idx, self.context, self.pad_id)


def hidden_linear(fan_in: int, fan_out: int, *, gain=1.0, bias=True, rng: np.random.Generator, dtype) -> nn.Linear:
    """A hidden layer's Linear with Kaiming-normal weights, std gain / sqrt(fan_in) (He et al., 2015), and a zero
    bias: with the gain of the activation that follows, its outputs start at unit scale (tanh out of saturation)."""
    lin = nn.Linear(fan_in, fan_out, bias=bias, rng=rng, dtype=dtype)  # its own draw first: a seed keeps its weights
    lin.weight.data[...] = nn.init.kaiming_normal(rng, lin.weight.shape, gain=gain, dtype=dtype)
    if bias:
        lin.bias.data[...] = 0
    return lin


def quiet_head(n_in: int, vocab_size: int, scale: float, *, rng: np.random.Generator, dtype) -> nn.Linear:
    """The head of a small rung: Linear's init times `scale`, zero bias, so the first predictions are near uniform
    (the initial loss about ln(vocab_size)) rather than confidently wrong."""
    head = nn.Linear(n_in, vocab_size, rng=rng, dtype=dtype)
    head.weight.data *= scale
    head.bias.data[...] = 0
    return head
