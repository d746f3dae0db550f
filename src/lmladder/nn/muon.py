"""Muon (Jordan et al., 2024, "Muon: An optimizer for hidden layers in neural networks") for a model's hidden
matrices, AdamW for the rest, with the options the field runs it with (modded-nanogpt, nanochat): fused matrices
orthogonalised block by block (q, k and v as three matrices), cautious weight decay, a momentum warm-up, and the
Polar Express coefficients for Newton-Schulz. Every option defaults to the plain algorithm. Its settings in a config
(optim.muon) are MuonSettings, which the constructor takes whole.

The update of one matrix W with gradient G at step t (1-based), lr_t = muon_lr * lr(t) / lr(peak):

    mu_t = momentum, or lerp(momentum_start, momentum, min((t - 1) / momentum_warmup, 1)) during the warm-up
    B    = mu_t B + (1 - mu_t) G;   U = (1 - mu_t) G + mu_t B  (Nesterov; plain: U = B)
    O    = NS(U) sqrt(max(1, rows / cols)), or per block of rows with their own rows when split_blocks is on
    W    = W - lr_t wd M * W - lr_t O,   M = 1 everywhere, or (cautious_wd) 1 where O W >= 0, else 0
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import fast
from ..rules import SettingsError, check_fields, choice, flag, integer, number
from .layers import Embedding
from .module import Module, Parameter
from .optim import AdamSettings, AdamW, decay_groups

# Newton-Schulz quintics X <- a X + (b A + c A^2) X, A = X X^T: one (a, b, c) for every step, or one per step.
NS_COEFFS = {
    # Jordan's: the same quintic every step, pushing every singular value into about [0.7, 1.2] in 5 steps
    "jordan": ((3.4445, -4.7750, 2.0315),),
    # Polar Express (Amsel et al., 2025): a quintic per step, tuned for 5 steps (safety factor 2e-2, cushion 2);
    # modded-nanogpt's and nanochat's coefficients
    "polar_express": (
        (8.156554524902461, -22.48329292557795, 15.878769915207462),
        (4.042929935166739, -2.808917465908714, 0.5000178451051316),
        (3.8916678022926607, -2.772484153217685, 0.5060648178503393),
        (3.285753657755655, -2.3681294933425376, 0.46449024233003106),
        (2.3465413258596377, -1.7097828382687081, 0.42323551169305323),
    ),
}
NS_SAFETY = {"jordan": 1.0, "polar_express": 1.02}  # the norm G is divided by, times this: below 1 with room
MOMENTUM_WARMUP_START = 0.85  # modded-nanogpt's and nanochat's momentum at step 0 of the warm-up
NS_STEPS_MAX = 64  # Newton-Schulz iterations: far past where more changes the update
NS_EPS = 1e-7  # added to the norm G is divided by


def ns_steps_max(coeffs: str) -> int | None:
    """The most Newton-Schulz steps a coefficient set is made for (None: any number)."""
    return len(NS_COEFFS[coeffs]) if len(NS_COEFFS[coeffs]) > 1 else None


def newton_schulz(G: np.ndarray, steps: int, eps: float = NS_EPS, coeffs: str = "jordan") -> np.ndarray:
    """About U V^T for G = U S V^T (G's orthogonalisation), by `steps` quintic Newton-Schulz iterations."""
    quintics, safety = NS_COEFFS[coeffs], NS_SAFETY[coeffs]
    tall = G.shape[0] > G.shape[1]
    X = G.T if tall else G  # (r, c) with r <= c: X X^T is the smaller Gram matrix
    X = X / (np.linalg.norm(X) * safety + eps)  # spectral norm <= Frobenius norm <= 1: inside the iteration's basin
    for k in range(steps):
        a, b, c = quintics[min(k, len(quintics) - 1)]
        A = X @ X.T  # (r, r)
        B = b * A + c * (A @ A)
        X = a * X + B @ X  # (r, c)
    return X.T if tall else X


def _scale(shape: tuple[int, ...]) -> float:
    """Muon's rate multiplier for a (rows, cols) matrix: sqrt(max(1, rows / cols))."""
    return math.sqrt(max(1.0, shape[0] / shape[1]))


@dataclass
class MuonSettings:
    """Muon's own settings (optim.muon); the module docstring states the update each one enters."""

    lr: float = number(0.02, above=0)  # the hidden matrices' rate at the schedule's peak (optim.lr is AdamW's)
    momentum: float = number(0.95, low=0, below=1)
    nesterov: bool = flag(True)
    # Newton-Schulz iterations per update: 5 orthogonalise well, and a huge count hung the first step
    ns_steps: int = integer(5, low=1, high=NS_STEPS_MAX, note="5 is Muon's usual count")
    # jordan: one quintic, any ns_steps | polar_express: one per step, ns_steps <= 5
    ns_coeffs: str = choice("jordan", tuple(NS_COEFFS))
    split_qkv: bool = flag(False)  # q, k and v of the attention orthogonalised as three matrices
    # the hidden matrices' decoupled decay (lr_t x it a step)
    weight_decay: float | None = number(None, low=0, null="(the same as optim.weight_decay)")
    cautious_wd: bool = flag(False)  # decay only where the update and the weight agree in sign
    momentum_warmup: int = integer(0, low=0, note="steps of the momentum's rise from 0.85; 0 turns it off")

    def check(self) -> None:
        check_fields(self, SettingsError)
        if (most := ns_steps_max(self.ns_coeffs)) and self.ns_steps > most:
            raise SettingsError(
                f"ns_steps={self.ns_steps!r} must be <= {most} with ns_coeffs={self.ns_coeffs!r} (its coefficients "
                f"are made for {most} steps); set ns_steps={most}, or ns_coeffs=jordan for more steps"
            )

    def hyper(self) -> dict[str, Any]:
        """These settings as the options of a muon=True parameter group (Muon.defaults' names)."""
        return {
            "muon_lr": self.lr,
            "momentum": self.momentum,
            "nesterov": self.nesterov,
            "ns_steps": self.ns_steps,
            "ns_coeffs": self.ns_coeffs,
            "split_blocks": self.split_qkv,
            "cautious_wd": self.cautious_wd,
            "momentum_warmup": self.momentum_warmup,
        }


class Muon(AdamW):
    """Muon for every matrix of a group with muon=True: SGD momentum (Nesterov by default) whose update is
    orthogonalised by Newton-Schulz and scaled by sqrt(max(1, out / in)); AdamW for every other parameter
    (embeddings, head, gains, biases). The module docstring states the update with every option.

    The matrices' rate is muon_lr at the schedule's peak: set_lr(lr) moves it in proportion to lr, and the decoupled
    weight decay with it (lr_t wd of each weight a step). Options of a muon=True group: split_blocks (orthogonalise
    each block of a matrix's declared Parameter.row_blocks as a matrix of its own), cautious_wd, momentum_warmup
    (steps; from momentum_start to momentum), ns_coeffs (jordan | polar_express). `settings` (MuonSettings) sets
    them all, `adam` (AdamSettings) AdamW's betas and eps."""

    defaults = {**AdamW.defaults, "muon": False, **MuonSettings().hyper(), "momentum_start": MOMENTUM_WARMUP_START}
    buffers = ("exp_avg", "exp_avg_sq", "momentum_buffer")

    def __init__(self, params, settings: MuonSettings | None = None, adam: AdamSettings | None = None, **hyper):
        if settings is not None:
            hyper |= settings.hyper()
        super().__init__(params, adam, **hyper)
        self.peak_lr = self.param_groups[0]["lr"]
        if not any(g["muon"] and g["params"] for g in self.param_groups):
            raise ValueError("Muon: no group has muon=True matrices; the model has no hidden matrices for Muon")
        for g in self.param_groups:
            if bad := [p.shape for p in g["params"] if g["muon"] and p.ndim != 2]:
                raise ValueError(f"Muon: muon=True groups hold matrices only, got shapes {bad}")
            if g["ns_coeffs"] not in NS_COEFFS:
                raise ValueError(f"Muon: ns_coeffs={g['ns_coeffs']!r}; choose one of {', '.join(NS_COEFFS)}")
            if (most := ns_steps_max(g["ns_coeffs"])) and g["ns_steps"] > most:
                raise ValueError(f"Muon: ns_coeffs={g['ns_coeffs']!r} is made for {most} steps; set ns_steps <= {most}")
        self.row_blocks = [
            _declared_blocks(p) for p in self.params
        ]  # what each parameter declares (Parameter.row_blocks)

    def step(self) -> None:
        """reference_update for every parameter, with the orthogonalisations (the step's cost: one per matrix, or per
        block of one) run by `fast`, batched over the matrices of one shape on the cores (float32
        rounding apart from one after another)."""
        self.step_count += 1
        todo = []  # (w, update before orthogonalisation, group, blocks) for each matrix
        i = 0
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None and group["muon"]:
                    todo.append((p.data, self._momentum(p.grad, i, group), group, self._blocks(i, group)))
                elif p.grad is not None:
                    super().reference_update(p.data, p.grad, i, group)
                i += 1
        if not todo:
            return
        jobs = [(x, g["ns_steps"], g["ns_coeffs"]) for _, u, g, blocks in todo for x in _pieces(u, blocks)]
        k = fast.kernel(todo[0][1])
        consts = (NS_COEFFS, NS_SAFETY, NS_EPS)
        done = iter(list(map(_orthogonalise, jobs)) if k is None else k.orthogonalise(jobs, consts, _orthogonalise))
        for w, u, group, blocks in todo:
            self._apply(w, [next(done) for _ in _pieces(u, blocks)], group)

    def reference_update(self, w, g, i, group):
        if not group["muon"]:
            super().reference_update(w, g, i, group)
            return
        u = self._momentum(g, i, group)
        blocks = self._blocks(i, group)
        pieces = [newton_schulz(x, group["ns_steps"], coeffs=group["ns_coeffs"]) for x in _pieces(u, blocks)]
        self._apply(w, pieces, group)

    def _blocks(self, i: int, group: dict) -> tuple[int, ...] | None:
        """Parameter i's blocks of rows, orthogonalised one by one (None: the matrix as one)."""
        return self.row_blocks[i] if group["split_blocks"] else None

    def momentum_now(self, group: dict) -> float:
        """The momentum of this step (step_count, 1-based): `momentum`, after a linear warm-up from momentum_start
        over the first momentum_warmup steps (modded-nanogpt, nanochat)."""
        if not (n := group["momentum_warmup"]):
            return group["momentum"]
        frac = min((self.step_count - 1) / n, 1.0)
        return (1 - frac) * group["momentum_start"] + frac * group["momentum"]

    def _momentum(self, g, i, group):
        """The momentum buffer's step; returns the update to orthogonalise (Nesterov's look-ahead by default)."""
        mu = self.momentum_now(group)
        buf = self.state["momentum_buffer"][i]
        buf *= mu
        buf += (1 - mu) * g  # buf = mu buf + (1 - mu) g
        return (1 - mu) * g + mu * buf if group["nesterov"] else buf

    def _apply(self, w, orthogonal, group):
        """w -= lr sqrt(max(1, rows / cols)) o for the orthogonalised update o (or for each block of rows o_b, by its
        own rows), after the decoupled weight decay (cautious: only where the step and w agree in sign)."""
        lr = group["muon_lr"] * group["lr"] / self.peak_lr
        steps = [lr * _scale(o.shape) * o for o in orthogonal]
        step = steps[0] if len(steps) == 1 else np.concatenate(steps)
        if wd := group["weight_decay"]:
            if group["cautious_wd"]:  # where the step already moves w towards 0 (step w >= 0: |w - step| shrinks)
                w -= w * ((step * w >= 0) * w.dtype.type(lr * wd))
            else:
                w *= w.dtype.type(1 - lr * wd)
        w -= step.astype(w.dtype, copy=False)


def _declared_blocks(p: Parameter) -> tuple[int, ...] | None:
    """p's declared blocks of rows, checked against its shape (None: none declared)."""
    blocks = p.row_blocks
    if blocks is not None and (sum(blocks) != p.shape[0] or min(blocks) < 1):
        raise ValueError(f"Muon: row_blocks {blocks} do not split a matrix of {p.shape[0]} rows")
    return blocks


def _pieces(u: np.ndarray, blocks: tuple[int, ...] | None) -> list[np.ndarray]:
    """The matrices orthogonalised on their own: u whole, or its blocks of rows (views)."""
    if blocks is None:
        return [u]
    edges = np.cumsum((0, *blocks))
    return [u[a:b] for a, b in zip(edges[:-1], edges[1:], strict=True)]


def _orthogonalise(job: tuple[np.ndarray, int, str]) -> np.ndarray:
    x, steps, coeffs = job
    return newton_schulz(x, steps, coeffs=coeffs)


HEAD_NAMES = ("head", "lm_head")  # the attribute names of the output layer, which Muon leaves to AdamW


def hidden_matrices(model: Module) -> list[Parameter]:
    """Muon's parameters: every true matrix (2-D, both sides > 1) but the embedding tables and the output head."""
    skip = {id(m.weight) for m in model.modules() if isinstance(m, Embedding)}
    skip |= {id(m.weight) for n, m in model.named_modules() if n.rsplit(".", 1)[-1] in HEAD_NAMES}
    return [p for _, p in model.named_parameters() if p.ndim == 2 and min(p.shape) > 1 and id(p) not in skip]


def muon_groups(model: Module, weight_decay: float, muon_weight_decay: float | None = None) -> list[dict]:
    """decay_groups for what is not a hidden matrix, plus one muon=True group of the hidden matrices, decayed by
    muon_weight_decay (None: weight_decay, as the rest)."""
    matrices = hidden_matrices(model)
    if not matrices:
        raise ValueError(
            f"optim.name=muon: {type(model).__name__} has no hidden matrices (2-D weights besides embeddings and "
            "the head) for Muon; use optim.name=adamw"
        )
    ids = {id(p) for p in matrices}
    rest = [(n, p) for n, p in model.named_parameters() if id(p) not in ids]
    wd = weight_decay if muon_weight_decay is None else muon_weight_decay
    return [*decay_groups(rest, weight_decay), {"params": matrices, "weight_decay": wd, "muon": True}]
