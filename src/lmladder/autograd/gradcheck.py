"""Finite-difference gradient checks (float64, central differences, random upstream gradient)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from .engine import Tensor

EPS = 1e-6  # the central differences' step: float64 round-off over EPS stays far below atol


class GradcheckError(AssertionError):
    pass


def _picked(shape: tuple[int, ...], elements: int | None, rng: np.random.Generator) -> list[tuple[int, ...]]:
    """Every index of `shape`, or `elements` of them: the first, the last and the rest drawn without repeats."""
    size = int(np.prod(shape))
    if elements is None or size <= elements:
        return list(np.ndindex(shape))
    flat = np.concatenate([[0, size - 1], rng.choice(np.arange(1, size - 1), elements - 2, replace=False)])
    return [np.unravel_index(int(k), shape) for k in flat]


def _numeric_grad(f: Callable[[], float], x: np.ndarray, picked: list[tuple[int, ...]]) -> np.ndarray:
    grad = np.zeros(x.shape, dtype=x.dtype)
    for i in picked:  # index x itself: a reshape of a non-contiguous array would perturb a copy
        old = x[i]
        x[i] = old + EPS
        fp = f()
        x[i] = old - EPS
        fm = f()
        x[i] = old
        grad[i] = (fp - fm) / (2 * EPS)
    return grad


def gradcheck(
    fn: Callable[..., Tensor],
    inputs: Sequence[np.ndarray | Tensor],
    *,
    params: Sequence[Tensor] = (),
    atol: float = 1e-6,
    rtol: float = 1e-5,
    seed: int = 0,
    name: str | None = None,
    elements: int | None = None,
) -> bool:
    """Compare backward() with central differences for every floating input of `fn(*tensors)`.

    The scalar checked is sum(fn(*x) * u) with a fixed random upstream gradient u, so every output element
    and every path through the op is exercised. Inputs are cast to float64; integer inputs (indices) are passed
    through without gradient. `params` are extra float64 leaf tensors used inside `fn` (a layer's weights) that
    are checked too. `elements` (>= 2) checks that many entries of each tensor (its first, its last and ones drawn by
    `seed`) instead of every one: a whole model's check costs two forwards per entry. Raises GradcheckError with
    both gradients printed on a mismatch.
    """
    for p in params:
        if p.dtype != np.float64:
            raise GradcheckError(
                f"gradcheck: parameter of shape {p.shape} is {p.dtype}; build the layer with "
                "dtype=np.float64 for gradient checks"
            )
        p.grad = None
    tensors = []
    for x in inputs:
        arr = np.array(x.data if isinstance(x, Tensor) else x)
        floating = np.issubdtype(arr.dtype, np.floating)
        tensors.append(Tensor(arr.astype(np.float64) if floating else arr, requires_grad=floating))
    out = fn(*tensors)
    if out.dtype != np.float64:
        raise GradcheckError(f"{name or fn}: output dtype {out.dtype}; gradcheck needs the op to stay in float64")
    rng = np.random.default_rng(seed)
    u = rng.standard_normal(out.shape)

    def scalar() -> float:
        return float(np.sum(fn(*tensors).data * u))

    out.backward(u)
    label = name or getattr(fn, "__name__", "fn")
    for i, t in enumerate([*tensors, *params]):
        if not t.requires_grad:
            continue
        picked = _picked(t.shape, elements, rng)
        analytic = np.zeros_like(t.data) if t.grad is None else t.grad
        numeric = _numeric_grad(scalar, t.data, picked)
        if len(picked) < t.data.size:  # (checked,): the entries differenced, the same on both sides
            analytic, numeric = (np.array([g[k] for k in picked]) for g in (analytic, numeric))
        if not np.allclose(analytic, numeric, atol=atol, rtol=rtol):
            err = np.max(np.abs(analytic - numeric))
            with np.printoptions(precision=6, suppress=True, linewidth=120):
                raise GradcheckError(
                    f"gradcheck failed for {label}, input {i} of shape {t.shape}: max abs error {err:.3g}\n"
                    f"analytic (backward):\n{analytic}\nnumeric (central differences):\n{numeric}"
                )
    return True
