"""A trained neural rung mixed with a count n-gram, as Bengio et al. (2003, "A Neural Probabilistic Language Model")
mixed their MLP with an interpolated trigram:

    p(t | c) = lam p_neural(t | c) + (1 - lam) p_count(t | c)

Fitted, not trained. `fit(train, neural=..., val=...)` takes the neural component from the checkpoint `neural`
names (loaded by lmladder.checkpoints.load_components, as `components` declares), counts the n-gram (the count
rung's model, interpolated Kneser-Ney 7-gram by default) on the train split and chooses lam where `fit_on` says:
- `val` (the default): lam maximises val's likelihood, the one number fitted on it (a corpus with a test split
  keeps test unseen). Both components are scored on text neither trained on, as a mixture is used. `fit_summary`
  also gives val scored with each half's lam fitted on the other half, the figure no val token's own score chose.
- `train_tail`: lam maximises the likelihood of the last `holdout` of train, the n-gram counted on the rest. The
  neural component trained on that tail and scores better there than on new text, so lam leans toward it: for a
  network trained for many epochs, all the way (a 30-minute GPT on Tiny Shakespeare: lam 0.999 on its tail, 0.76 on
  val, 0.04 nats apart on val).

forward returns log p as the logits, so exact scoring, sampling and the report treat the mixture as any rung. Its
checkpoint alone rebuilds it: the arrays of both components (`neural.*`, `count.*`) and, in the config, the neural
component's rung and fields, the n-gram's settings and lam.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from ..autograd import Tensor, no_grad
from ..nn.module import StateDictError
from ..rules import check_fields, check_used, choice, integer, number
from . import DATA_FIELDS, rung_class, rungs, tokenizer_digest
from .base import LanguageModel, ModelConfigError
from .bigram import SMOOTHINGS, NGram, NGramConfig
from .mixture_fit import best_lambda, cross_fitted, holdout_split, log_probs, mix, target_log_probs

if TYPE_CHECKING:  # fit is given a loaded checkpoint; loading lives a floor up (it builds any rung)
    from ..checkpoints import Checkpoint

MIN_TAIL = 100  # fewer predicted tokens to fit lam on are named in the run's log: a few dozen fitted lam = 0.0
FIT_ON = ("val", "train_tail")  # where lam is fitted when it is not given


@dataclass
class MixtureConfig:
    """The mixture's settings: `mixture.model` in conf/, and what its checkpoints store."""

    neural: str | None = None  # a trained rung's model.safetensors, which fit loads (null: the component it holds)
    order: int = integer(7, low=1)  # the n-gram: NGramConfig's fields
    smoothing: str = choice("kneser_ney", SMOOTHINGS)
    k: float = number(1.0, low=0, note="add_k's pseudo-count")
    discount: float | None = number(None, above=0, below=1, null="for the estimated Kneser-Ney discounts")
    fit_on: str = choice("val", FIT_ON, note="where lam is fitted when lam is null")
    holdout: float = number(0.05, above=0, below=1, note="the end of the train split that fit_on=train_tail uses")
    lam: float | None = number(None, low=0, high=1, null="to fit it where fit_on says")  # the neural share
    neural_rung: str | None = None  # fit sets these two from the checkpoint: the neural component's rung
    neural_config: dict[str, Any] | None = None  # and its config fields but the data fields (the mixture's own)
    vocab_size: int | None = integer(None, low=1, null="(set from the data)")
    pad_id: int = integer(0, low=0)  # from the data: the boundary of a lines corpus, else 0
    boundary_id: int | None = integer(None, low=0, null="")  # from the data: a lines corpus's boundary
    tokenizer_digest: str | None = None  # from the data: the neural checkpoint must have the same tokenizer

    def check(self) -> None:
        check_fields(self, ModelConfigError)
        check_used(self, "fit_on", {"holdout": ("train_tail",)}, ModelConfigError)
        for name in ("neural", "neural_rung", "tokenizer_digest"):
            if not isinstance(getattr(self, name), str | None):
                raise ModelConfigError(f"{name}={getattr(self, name)!r} must be a string or null")
        self.count_config().check()
        if (self.neural_rung is None) != (self.neural_config is None):
            raise ModelConfigError(
                f"neural_rung={self.neural_rung!r} and neural_config are set together (fit sets both from the "
                "neural checkpoint); leave both null"
            )
        if self.neural_rung is not None:
            self.neural_model()[1].check()

    def count_config(self) -> NGramConfig:
        names = {f.name for f in fields(NGramConfig)}
        return NGramConfig(**{k: v for k, v in asdict(self).items() if k in names})

    def neural_model(self) -> tuple[type[LanguageModel], Any]:
        """The neural component's class and config: neural_config with the mixture's data fields."""
        rung, given = self.neural_rung, self.neural_config
        if rung not in rungs() or not rung_class(rung).trainable or not isinstance(given, dict):
            trained = ", ".join(r for r in rungs() if rung_class(r).trainable)
            raise ModelConfigError(
                f"neural_rung={str(rung)[:40]!r} with neural_config of type {type(given).__name__}; the neural "
                f"component is a trained rung ({trained}) and a map of its config fields"
            )
        cls = rung_class(rung)
        own = {f.name for f in fields(cls.Config)}
        data = {k: getattr(self, k) for k in DATA_FIELDS if k in own}
        try:
            return cls, cls.stored_config({**given, **data})
        except TypeError as e:
            raise ModelConfigError(
                f"neural_config does not fit a {rung} model ({str(e)[:80]}); leave it to fit, which sets it from the "
                "neural checkpoint"
            ) from None


class Mixture(LanguageModel):
    """p = lam p_neural + (1 - lam) p_count. Both components are frozen and always in eval mode: they are held
    outside the module tree (no parameters to train, no dropout or BatchNorm update from a train() call)."""

    rung, ladder_position = "mixture", 70  # above the transformer (60): the top neural rung with the n-gram
    Config = MixtureConfig
    trainable = False
    sized_by_data = True  # the n-gram's arrays grow with the data
    components = ("neural",)  # fit(train, neural=<its checkpoint, loaded>)
    tuned_on = ("val",)  # fit(train, val=<the val split's ids>): fit_on=val fits lam there

    def __init__(self, config: MixtureConfig, *, rng: np.random.Generator, dtype=np.float32):
        super().__init__(config)
        self.parts: dict[str, LanguageModel] = {}
        if config.neural_rung is not None:  # a checkpoint's mixture: its weights are loaded next
            cls, c = config.neural_model()
            self.parts["neural"] = cls(c, rng=rng, dtype=dtype).eval()
        self.parts["count"] = NGram(config.count_config())
        self.lam = config.lam
        self.block_size = self.parts["neural"].block_size if "neural" in self.parts else None

    @classmethod
    def min_params(cls, c: MixtureConfig) -> float:
        if c.neural_rung is None:
            return 0.0
        neural, config = c.neural_model()
        return neural.min_params(config)  # the n-gram's arrays grow with the data

    @classmethod
    def stored_config(cls, fields: dict[str, Any]) -> MixtureConfig:
        """A checkpoint written before `fit_on` existed had its lam fitted on the train tail."""
        return cls.Config(**{"fit_on": "train_tail", **fields})

    @classmethod
    def renamed_weights(cls, fields: dict) -> dict[str, str]:
        """The neural component's own, under its name here (`neural.`)."""
        rung, stored = fields.get("neural_rung"), fields.get("neural_config")
        if rung not in rungs() or not isinstance(stored, dict):
            return {}
        return {f"neural.{old}": f"neural.{new}" for old, new in rung_class(rung).renamed_weights(stored).items()}

    def num_parameters(self) -> int:
        return sum(part.num_parameters() for part in self.parts.values())

    def fit(self, tokens: np.ndarray, neural: Checkpoint | None = None, val: np.ndarray | None = None) -> Mixture:
        """Take the neural component from `neural` (the checkpoint the config's `neural` names, loaded) or keep the
        one held, count the n-gram on all of `tokens` (a train split) and fit lam where fit_on says unless the
        config fixes it (fit_on=val: on `val`, the val split's ids)."""
        c, tokens = self.config, np.asarray(tokens)
        if neural is None and c.neural is not None:
            raise ModelConfigError(
                f"Mixture.fit: neural={c.neural!r} is not loaded; pass it: "
                "model.fit(train, **lmladder.checkpoints.load_components(model))"
            )
        model = self.parts.get("neural") if neural is None else self.check_neural(neural)
        if model is None:
            raise ModelConfigError(
                "neural=None: the mixture needs a trained neural rung; give its checkpoint, e.g. "
                "neural=outputs/transformer/seed0/model.safetensors"
            )
        model.eval()  # scored as it is used: no dropout draws while lam is fitted
        count = NGram(c.count_config()).fit(tokens)
        lam, self.fitted = (c.lam, "fixed") if c.lam is not None else self._fit_lam(model, count, tokens, val)
        self.parts = {"neural": model, "count": count}
        self.lam, self.block_size = lam, model.block_size
        own = {k: v for k, v in asdict(model.config).items() if k not in DATA_FIELDS}
        self.config = replace(c, lam=lam, neural_rung=model.rung, neural_config=own)
        return self

    def _fit_lam(self, model: LanguageModel, count: NGram, train: np.ndarray, val) -> tuple[float, str]:
        """lam where fit_on says, and what it was fitted on, in words (fit_summary)."""
        c, window = self.config, model.window()
        if c.fit_on == "train_tail":
            head, text = holdout_split(train, c.holdout, c.boundary_id)
            count = NGram(c.count_config()).fit(head)
        elif val is None:
            raise ModelConfigError(
                "Mixture.fit: fit_on=val needs the val split: model.fit(train, val=<its ids>, ...); or set "
                "fit_on=train_tail, or lam= yourself"
            )
        else:
            text = np.asarray(val)
        log_p, log_q = (target_log_probs(m, text, c.boundary_id, window) for m in (model, count))
        lam, n = best_lambda(log_p, log_q), len(log_p)
        where = (
            f"the last {n:,} train tokens (holdout={c.holdout})" if c.fit_on == "train_tail" else f"val's {n:,} tokens"
        )
        if n < MIN_TAIL:
            fix = "raise holdout=" if c.fit_on == "train_tail" else "fit_on=train_tail"
            return lam, f"{where}; only {n} tokens: {fix} or fix lam="
        if c.fit_on == "val":
            nll, cross = -float(np.mean(mix(log_p, log_q, lam))), cross_fitted(log_p, log_q)
            where += f" (val NLL {nll:.4f} with it, {cross:.4f} with each half's lam fitted on the other half)"
        return lam, where

    def fit_summary(self) -> str:
        """lam, what it was fitted on, and what an end of [0, 1] means: a mixture that is one component alone."""
        alone = {0.0: "the count model alone: the neural component adds nothing there",
                 1.0: "the neural component alone: the n-gram adds nothing there"}.get(self.lam)  # fmt: skip
        how = self.fitted if self.fitted == "fixed" else f"fitted on {self.fitted}"
        return f"lam = {self.lam:.4f} (the neural share), {how}" + (f"; {alone}" if alone else "")

    def check_neural(self, ck: Checkpoint) -> LanguageModel:
        """The trained model of the checkpoint `neural` names, refused unless it is a neural rung of this data's
        tokenizer."""
        where = f"neural={self.config.neural!r}"
        model, c = ck.model, self.config
        if not model.trainable:
            raise ModelConfigError(
                f"{where} holds a {model.rung} model, which is counted, not trained; give the checkpoint of a neural "
                "rung (the mixture counts its own n-gram)"
            )
        same = c.tokenizer_digest in (None, tokenizer_digest(ck.tokenizer))
        ids = {k: getattr(c, k) for k in ("vocab_size", "pad_id", "boundary_id")}  # as the neural config has them
        if not same or any(getattr(model.config, k, v) != v for k, v in ids.items()):
            raise ModelConfigError(
                f"{where} was trained with another tokenizer ({ck.tokenizer.describe()}, {model.vocab_size} symbols) "
                f"than the prepared data ({c.vocab_size} symbols); give a checkpoint trained on this data"
            )
        return model

    def forward(self, idx, targets=None, *, last_only=False):
        idx = self.check_input(idx, targets, last_only)
        if "neural" not in self.parts or self.lam is None:
            raise ModelConfigError("Mixture.forward: the mixture is not fitted; call fit(train_ids) or load one")
        log_p = log_probs(self.parts["neural"], idx, last_only)  # (B, T, V)
        with no_grad():
            log_q = self.parts["count"](idx, last_only=last_only)[0].data  # (B, T, V), already log-probabilities
        logits = Tensor(mix(log_p, log_q, self.lam))  # (B, T, V) log p of the mixture
        return logits, None if targets is None else self.loss(logits, targets)

    def state_dict(self) -> dict[str, np.ndarray]:
        return {f"{name}.{k}": a for name, part in self.parts.items() for k, a in part.state_dict().items()}

    def load_state_dict(self, state: dict[str, np.ndarray], strict: bool = True) -> None:
        if "neural" not in self.parts or self.lam is None:  # fit writes both before any checkpoint
            raise StateDictError("Mixture.load_state_dict: its config has no neural component or no lam; fit it")
        if other := sorted(k for k in state if k.split(".", 1)[0] not in self.parts):
            raise StateDictError(
                f"Mixture.load_state_dict: {other[:3]} belong to no component of {sorted(self.parts)}; load a mixture "
                "checkpoint"
            )
        for name, part in self.parts.items():
            part.load_state_dict({k[len(name) + 1 :]: a for k, a in state.items() if k.startswith(f"{name}.")})
