"""Optimizers (SGD with momentum, Adam, AdamW; Muon: muon.py) updating parameters in place; global-norm clipping.

Parameter groups follow the usual convention: pass a list of dicts `{"params": [...], "weight_decay": 0.0, ...}`
to override hyper-parameters per group (e.g. no decay on biases, norms and embeddings). An optimizer's own settings
in a config (optim.adam, optim.sgd) are a dataclass beside it, which its constructor takes whole.

Each optimizer states its rule once, plainly, in `reference_update` (one parameter, the paper's formula). Adam's
`fast_step` hands the whole model to its compiled twin in `fast` (lmladder/fast/adam.py), which must equal the
reference to float32 rounding (tests/nn/test_optim.py runs both on the same parameters and gradients). `step()`
takes the fast step where `fast` takes it, the reference otherwise.
"""

from __future__ import annotations

import functools
import math
import operator
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from .. import fast
from ..rules import Rule, SettingsError, check_fields, number
from .module import Parameter

_grad = operator.attrgetter("grad")
_is_set = functools.partial(operator.is_not, None)  # g is not None


class Optimizer:
    defaults: dict = {}
    buffers: tuple[str, ...] = ()  # per-parameter state arrays, saved in checkpoints

    def __init__(self, params, **hyper):
        if unknown := set(hyper) - set(self.defaults):
            raise ValueError(
                f"{type(self).__name__}: unknown options {sorted(unknown)}; known: {sorted(self.defaults)}"
            )
        params = list(params)
        if not params:
            raise ValueError(f"{type(self).__name__}: got an empty parameter list")
        groups = params if isinstance(params[0], dict) else [{"params": params}]
        self.param_groups: list[dict] = []
        for g in groups:
            group = {**self.defaults, **hyper, **g, "params": list(g["params"])}
            if not group["lr"] > 0 or not math.isfinite(group["lr"]):
                raise ValueError(f"{type(self).__name__}: learning rate must be a positive number, got {group['lr']}")
            self.param_groups.append(group)
        self.step_count = 0
        self.state = {name: [np.zeros_like(p.data) for p in self.params] for name in self.buffers}

    @property
    def params(self) -> list[Parameter]:
        return [p for g in self.param_groups for p in g["params"]]

    def set_lr(self, lr: float) -> None:
        for g in self.param_groups:
            g["lr"] = lr

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    def step(self) -> None:
        """One update of every parameter that has a gradient."""
        self.step_count += 1
        if self.fast_step():
            return
        i = 0
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    self.reference_update(p.data, p.grad, i, group)
                i += 1

    def reference_update(self, w: np.ndarray, g: np.ndarray, i: int, group: dict) -> None:  # pragma: no cover
        """The rule for one parameter w (updated in place) with gradient g; i indexes its state buffers."""
        raise NotImplementedError

    def fast_step(self) -> bool:
        """The whole update by lmladder.fast; False (nothing done) where it has none for this rule
        or these parameters, and step() runs reference_update."""
        return False

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict:
        """{'step': int, 'hyper': [per-group options], 'buffers': {name: [array per parameter]}}."""
        hyper = [{k: v for k, v in g.items() if k != "params"} for g in self.param_groups]
        return {"step": self.step_count, "hyper": hyper, "buffers": self.state}

    def load_state_dict(self, sd: dict) -> None:
        if set(sd["buffers"]) != set(self.buffers):
            raise ValueError(
                f"{type(self).__name__}: checkpoint has buffers {sorted(sd['buffers'])}, "
                f"expected {sorted(self.buffers)}; resume with the same optimizer"
            )
        for name, arrays in sd["buffers"].items():
            if len(arrays) != len(self.state[name]):
                raise ValueError(
                    f"{type(self).__name__}: checkpoint has {len(arrays)} '{name}' arrays for "
                    f"{len(self.state[name])} parameters; resume with the same model"
                )
            for dst, src in zip(self.state[name], arrays, strict=True):
                if dst.shape != np.shape(src):
                    raise ValueError(f"{type(self).__name__}: '{name}' shape {np.shape(src)} != {dst.shape}")
                np.copyto(dst, src)
        self.step_count = int(sd["step"])
        for g, h in zip(self.param_groups, sd.get("hyper", []), strict=False):
            g.update({k: (tuple(v) if isinstance(v, list) else v) for k, v in h.items()})


@dataclass
class SGDSettings:
    """SGD's own settings (optim.sgd)."""

    momentum: float = number(0.9, low=0, below=1)

    def check(self) -> None:
        check_fields(self, SettingsError)


class SGD(Optimizer):
    """w -= lr * (g + wd*w), with optional (Nesterov) momentum buffer; `settings` (SGDSettings) sets the momentum."""

    defaults = {"lr": 0.1, "momentum": 0.0, "weight_decay": 0.0, "nesterov": False}
    buffers = ("momentum_buffer",)

    def __init__(self, params, settings: SGDSettings | None = None, **hyper):
        if settings is not None:
            hyper |= {"momentum": settings.momentum}
        super().__init__(params, **hyper)

    def reference_update(self, w, g, i, group):
        lr, mu, wd = group["lr"], group["momentum"], group["weight_decay"]
        if wd:
            g = g + wd * w
        if mu:
            buf = self.state["momentum_buffer"][i]
            buf *= mu
            buf += g
            g = g + mu * buf if group["nesterov"] else buf
        w -= (lr * g).astype(w.dtype, copy=False)


_BETA = Rule("number", 0, 1, open_high=True)


@dataclass
class AdamSettings:
    """Adam's own settings (optim.adam): its moments' decay rates and the denominator's epsilon. Adam and AdamW read
    them, and Muon for what is not a hidden matrix."""

    betas: list[float] = field(default_factory=lambda: [0.9, 0.99])  # two in [0, 1): check()
    eps: float = number(1e-8, above=0)

    def check(self) -> None:
        check_fields(self, SettingsError)
        betas = list(self.betas) if isinstance(self.betas, list | tuple) else self.betas
        if not isinstance(betas, list) or len(betas) != 2 or not all(map(_BETA.holds, betas)):
            raise SettingsError(f"betas={betas!r} must be two numbers in [0, 1)")


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2015) with bias correction; weight_decay here is L2 added to the gradient. `settings`
    (AdamSettings) sets betas and eps."""

    defaults = {"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0}
    buffers = ("exp_avg", "exp_avg_sq")
    decoupled = False

    def __init__(self, params, settings: AdamSettings | None = None, **hyper):
        if settings is not None:
            hyper |= {"betas": tuple(settings.betas), "eps": settings.eps}
        super().__init__(params, **hyper)

    def reference_update(self, w, g, i, group):
        """The paper's Algorithm 1 for one parameter (bias-corrected moments), plus L2 or decoupled decay."""
        lr, (b1, b2), eps, wd = group["lr"], group["betas"], group["eps"], group["weight_decay"]
        if wd:
            if self.decoupled:
                w *= w.dtype.type(1 - lr * wd)
            else:
                g = g + wd * w
        m, v = self.state["exp_avg"][i], self.state["exp_avg_sq"][i]
        t = self.step_count
        m *= b1
        m += (1 - b1) * g
        v *= b2
        v += (1 - b2) * (g * g)
        bc1, bc2 = 1 - b1**t, 1 - b2**t
        denom = np.sqrt(v)
        denom *= 1 / math.sqrt(bc2)
        denom += eps
        w -= (lr / bc1) * m / denom

    def fast_step(self) -> bool:
        if (k := fast.kernel(self.params[0].data)) is None:
            return False
        m, v = self.state["exp_avg"], self.state["exp_avg_sq"]
        return k.adam_step(self.param_groups, m, v, self.step_count, self.decoupled)


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter, 2019): w *= 1 - lr*wd before the Adam step."""

    defaults = {"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.01}
    decoupled = True


def decay_groups(named_params: Iterable[tuple[str, Parameter]], weight_decay: float) -> list[dict]:
    """Two groups: >=2-D weights (matmuls, embeddings) decay; 1-D biases and norm gains do not (nanoGPT's rule)."""
    named = list(named_params)
    decay = [p for _, p in named if p.ndim >= 2]
    no_decay = [p for _, p in named if p.ndim < 2]
    groups = [{"params": decay, "weight_decay": weight_decay}]
    if no_decay:
        groups.append({"params": no_decay, "weight_decay": 0.0})
    return groups


def clip_grad_norm(params: Iterable[Parameter], max_norm: float | None) -> float:
    """Scale all gradients in place so their global L2 norm is at most max_norm; return the norm before clipping."""
    grads = list(filter(_is_set, map(_grad, params)))
    total = math.sqrt(sum(map(float, map(np.vdot, grads, grads))))  # sum of g . g, in C-level loops
    if max_norm is not None and max_norm > 0 and total > max_norm:
        scale = max_norm / (total + 1e-6)
        for g in grads:
            g *= g.dtype.type(scale)
    return total
