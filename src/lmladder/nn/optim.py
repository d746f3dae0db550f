"""Optimizers (SGD with momentum, Adam, AdamW, Muon) updating parameters in place, plus global-norm clipping.

Parameter groups follow the usual convention: pass a list of dicts `{"params": [...], "weight_decay": 0.0, ...}`
to override hyper-parameters per group (e.g. no decay on biases, norms and embeddings).

Each optimizer states its rule once, plainly, in `reference_update` (one parameter, the paper's formula). Adam's
`fast_step` hands the whole model to the speed wing's compiled twin (lmladder/fast/adam.py), which must equal the
reference to float32 rounding (tests/nn/test_optim.py runs both on the same parameters and gradients). `step()`
takes the fast step where the wing takes it, the reference otherwise.
"""

from __future__ import annotations

import functools
import math
import operator
from collections.abc import Iterable

import numpy as np

from .. import fast
from .layers import Embedding
from .module import Module, Parameter

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
        """The whole update by the speed wing (lmladder.fast); False (nothing done) where it has none for this rule
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


class SGD(Optimizer):
    """w -= lr * (g + wd*w), with optional (Nesterov) momentum buffer."""

    defaults = {"lr": 0.1, "momentum": 0.0, "weight_decay": 0.0, "nesterov": False}
    buffers = ("momentum_buffer",)

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


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2015) with bias correction; weight_decay here is L2 added to the gradient."""

    defaults = {"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0}
    buffers = ("exp_avg", "exp_avg_sq")
    decoupled = False

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


NS_COEFFS = (3.4445, -4.7750, 2.0315)  # Jordan's quintic: pushes every singular value towards 1 in 5 steps


def newton_schulz(G: np.ndarray, steps: int, eps: float = 1e-7) -> np.ndarray:
    """About U V^T for G = U S V^T (G's orthogonalisation), by `steps` quintic Newton-Schulz iterations."""
    a, b, c = NS_COEFFS
    tall = G.shape[0] > G.shape[1]
    X = G.T if tall else G  # (r, c) with r <= c: X X^T is the smaller Gram matrix
    X = X / (np.linalg.norm(X) + eps)  # spectral norm <= Frobenius norm <= 1: inside the iteration's basin
    for _ in range(steps):
        A = X @ X.T  # (r, r)
        B = b * A + c * (A @ A)
        X = a * X + B @ X  # (r, c)
    return X.T if tall else X


class Muon(AdamW):
    """Muon (Jordan et al., 2024, "Muon: An optimizer for hidden layers in neural networks"): for every matrix of
    a group with muon=True, SGD momentum (Nesterov by default) whose update is orthogonalised by Newton-Schulz and
    scaled by sqrt(max(1, out / in)); AdamW for every other parameter (embeddings, head, gains, biases).

    The matrices' rate is muon_lr at the schedule's peak: set_lr(lr) moves it in proportion to lr."""

    defaults = {
        **AdamW.defaults,
        "muon": False,
        "muon_lr": 0.02,
        "momentum": 0.95,
        "nesterov": True,
        "ns_steps": 5,
    }
    buffers = ("exp_avg", "exp_avg_sq", "momentum_buffer")

    def __init__(self, params, **hyper):
        super().__init__(params, **hyper)
        self.peak_lr = self.param_groups[0]["lr"]
        if not any(g["muon"] and g["params"] for g in self.param_groups):
            raise ValueError("Muon: no group has muon=True matrices; the model has no hidden matrices for Muon")
        for g in self.param_groups:
            if bad := [p.shape for p in g["params"] if g["muon"] and p.ndim != 2]:
                raise ValueError(f"Muon: muon=True groups hold matrices only, got shapes {bad}")

    def step(self) -> None:
        """reference_update for every parameter, with the matrices' orthogonalisations (the step's cost) run side by
        side on the cores by the speed wing: the same bits as one after another."""
        self.step_count += 1
        todo = []  # (w, update before orthogonalisation, group) for each matrix
        i = 0
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None and group["muon"]:
                    todo.append((p.data, self._momentum(p.grad, i, group), group))
                elif p.grad is not None:
                    super().reference_update(p.data, p.grad, i, group)
                i += 1
        if todo:
            jobs = [(u, g["ns_steps"]) for _, u, g in todo]
            k = fast.kernel(todo[0][1])
            orthogonal = (
                list(map(_orthogonalise, jobs)) if k is None else k.map_on_cores(_orthogonalise, jobs, todo[0][1])
            )
            for (w, _, group), o in zip(todo, orthogonal, strict=True):
                self._apply(w, o, group)

    def reference_update(self, w, g, i, group):
        if not group["muon"]:
            super().reference_update(w, g, i, group)
            return
        self._apply(w, newton_schulz(self._momentum(g, i, group), group["ns_steps"]), group)

    def _momentum(self, g, i, group):
        """The momentum buffer's step; returns the update to orthogonalise (Nesterov's look-ahead by default)."""
        mu = group["momentum"]
        buf = self.state["momentum_buffer"][i]
        buf *= mu
        buf += (1 - mu) * g  # buf = mu buf + (1 - mu) g
        return (1 - mu) * g + mu * buf if group["nesterov"] else buf

    def _apply(self, w, o, group):
        """Decoupled weight decay, then w -= lr sqrt(max(1, out / in)) o for the orthogonalised update o."""
        lr = group["muon_lr"] * group["lr"] / self.peak_lr
        if wd := group["weight_decay"]:
            w *= w.dtype.type(1 - lr * wd)
        w -= (lr * math.sqrt(max(1.0, w.shape[0] / w.shape[1])) * o).astype(w.dtype, copy=False)


def _orthogonalise(job: tuple[np.ndarray, int]) -> np.ndarray:
    return newton_schulz(*job)


HEAD_NAMES = ("head", "lm_head")  # the attribute names of the output layer, which Muon leaves to AdamW


def hidden_matrices(model: Module) -> list[Parameter]:
    """Muon's parameters: every true matrix (2-D, both sides > 1) but the embedding tables and the output head."""
    skip = {id(m.weight) for m in model.modules() if isinstance(m, Embedding)}
    skip |= {id(m.weight) for n, m in model.named_modules() if n.rsplit(".", 1)[-1] in HEAD_NAMES}
    return [p for _, p in model.named_parameters() if p.ndim == 2 and min(p.shape) > 1 and id(p) not in skip]


def muon_groups(model: Module, weight_decay: float) -> list[dict]:
    """decay_groups for what is not a hidden matrix, plus one muon=True group of the hidden matrices (decayed)."""
    matrices = hidden_matrices(model)
    if not matrices:
        raise ValueError(
            f"optim.name=muon: {type(model).__name__} has no hidden matrices (2-D weights besides embeddings and "
            "the head) for Muon; use optim.name=adamw"
        )
    ids = {id(p) for p in matrices}
    rest = [(n, p) for n, p in model.named_parameters() if id(p) not in ids]
    return [*decay_groups(rest, weight_decay), {"params": matrices, "weight_decay": weight_decay, "muon": True}]


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
