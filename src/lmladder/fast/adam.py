"""Adam's and AdamW's whole-model step on the compiled kernel (kernels_jit.adam): fast's twin of
nn.optim.Adam.reference_update, one pass per parameter over its gradient, moments and weight together.

It folds the bias corrections into two scalars per group and step, as Kingma & Ba's Section 2 suggests:
(lr / bc1) m / (sqrt(v / bc2) + eps) = alpha_t m / (sqrt(v) + eps_hat), alpha_t = lr sqrt(bc2) / bc1,
eps_hat = eps sqrt(bc2). Per element, in float32:

    g' = g + l2 w                         (Adam's L2 decay; l2 = 0 for AdamW)
    m  = b1 m + (1 - b1) g'
    v  = b2 v + (1 - b2) g' g'
    w  = w decay - alpha_t m / (sqrt(v) + eps_hat)      (AdamW's decay = 1 - lr wd; Adam's: 1)

So it rounds differently from the reference: the moments agree to the bit with decoupled decay, the weights to
float32 rounding (tests/nn/test_optim.py).
"""

from __future__ import annotations

import math

import numpy as np

from .kernels import compiled


def step(groups: list[dict], exp_avg: list[np.ndarray], exp_avg_sq: list[np.ndarray], t: int, decoupled: bool) -> bool:
    """Step t for every parameter of `groups` (an optimizer's param_groups), its moments exp_avg[i] and
    exp_avg_sq[i] updated in place with its weight; decoupled: AdamW's decay. Returns False (nothing done) unless
    every parameter has a gradient and is a C-contiguous float32 array that the compiled kernels take."""
    params = [p for group in groups for p in group["params"]]
    jit = compiled(params[0].data)
    takes = all(p.grad is not None and p.data.dtype == np.float32 and p.data.flags.c_contiguous for p in params)
    if jit is None or not takes:
        return False
    i = 0
    for group in groups:
        lr, (b1, b2), eps, wd = group["lr"], group["betas"], group["eps"], group["weight_decay"]
        root_bc2 = math.sqrt(1 - b2**t)
        alpha_t, eps_hat = lr * root_bc2 / (1 - b1**t), eps * root_bc2
        decay = np.float32(1 - lr * wd) if wd and decoupled else None
        h = jit.adam_scalars(b1, b2, eps_hat, alpha_t, decay, 0 if decoupled else wd)
        for p in group["params"]:
            m, v, w = exp_avg[i].reshape(-1), exp_avg_sq[i].reshape(-1), p.data.reshape(-1)
            jit.adam(p.grad.reshape(-1), m, v, w, h)
            i += 1
    return True
