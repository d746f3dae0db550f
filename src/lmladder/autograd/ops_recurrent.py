"""Fused recurrent cells: one time step of an Elman RNN, a GRU or an LSTM as one primitive, so a step is one graph
node (forward and backward of the step side by side) instead of the ~10 nodes its composite twin records.

The equations and gate layouts are PyTorch's (torch.nn.RNN, GRU, LSTM), so weights load 1:1. Each cell takes
`xg`, the input's share of the gates (x @ W_ih.T + b_ih, computed by the caller for all steps at once), the
previous state, and the recurrent weight W_hh (G, H) and bias b_hh (G,); it returns the next state. The state
may be a (1, S) start state shared by the batch (backward returns (B, S); the engine sums it back).
"""

from __future__ import annotations

import numpy as np

from .engine import AutogradError, Function


def _sigmoid(x: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-x)) in one new array: NumPy's exp is cheaper than its tanh (so not 0.5 (1 + tanh(x/2))),
    and where exp(-x) overflows (x < -88 in float32) 1 / inf is the right 0, so the warning is silenced."""
    y = np.negative(x)
    with np.errstate(over="ignore"):
        np.exp(y, out=y)
    y += 1
    return np.reciprocal(y, out=y)


def _check(name: str, xg, h, w, gates: int, state: int) -> None:
    H = w.shape[1]
    if w.shape[0] != gates * H or xg.shape[-1] != gates * H or h.shape[-1] != state * H:
        raise AutogradError(
            f"{name}: gates {xg.shape}, state {h.shape}, W_hh {w.shape} do not fit; W_hh must be ({gates}H, H), "
            f"the gates (B, {gates}H) and the state (B, {state}H)"
        )


class RNNCell(Function):
    """Elman: h' = tanh(xg + h @ W_hh.T + b_hh)."""

    __slots__ = ("h", "w", "out")

    def forward(self, xg, h, w, b):
        _check("RNNCell", xg, h, w, 1, 1)
        a = xg + h @ w.T  # (B, H) @ (H, H) -> (B, H); h may be one (1, H) start row
        a += b
        self.out = np.tanh(a, out=a)
        self.h, self.w = np.broadcast_to(h, a.shape), w
        return self.out

    def backward(self, g):
        da = g * (1 - self.out * self.out)  # (B, H): through tanh
        dh = da @ self.w if self.needs[1] else None  # (B, H) @ (H, H)
        dw = da.T @ self.h if self.needs[2] else None  # (H, B) @ (B, H)
        return da, dh, dw, da.sum(axis=0)


class GRUCell(Function):
    """Cho et al. (2014) as PyTorch writes it, gates in the order r, z, n:
    r = sigmoid(xr + W_hr h + b_hr), z = sigmoid(xz + W_hz h + b_hz), n = tanh(xn + r * (W_hn h + b_hn)),
    h' = (1 - z) * n + z * h."""

    __slots__ = ("h", "w", "r", "z", "n", "hn")

    def forward(self, xg, h, w, b):
        _check("GRUCell", xg, h, w, 3, 1)
        H = w.shape[1]
        hg = h @ w.T  # (B, H) @ (H, 3H) -> (B, 3H)
        hg += b
        rz = hg[:, : 2 * H] + xg[:, : 2 * H]  # (B, 2H)
        rz = _sigmoid(rz)
        r, z = rz[:, :H], rz[:, H:]
        hn = hg[:, 2 * H :]  # (B, H): W_hn h + b_hn, gated by r
        n = r * hn
        n += xg[:, 2 * H :]
        np.tanh(n, out=n)
        out = h - n  # h' = n + z * (h - n)
        out *= z
        out += n
        self.h, self.w, self.r, self.z, self.n, self.hn = np.broadcast_to(h, out.shape), w, r, z, n, hn
        return out

    def backward(self, g):
        h, r, z, n = self.h, self.r, self.z, self.n
        H = n.shape[1]
        da = np.empty((g.shape[0], 3 * H), dtype=np.result_type(g, n))  # (B, 3H): d of the gates' pre-activations
        dn = g * (1 - z)
        dn *= 1 - n * n  # through tanh: d(xn + r * hn)
        da[:, 2 * H :] = dn
        da[:, :H] = dn * self.hn * r * (1 - r)  # through r and its sigmoid
        da[:, H : 2 * H] = g * (h - n) * z * (1 - z)  # through z and its sigmoid
        dxg = da.copy() if self.needs[0] else None
        da[:, 2 * H :] *= r  # the hidden's share of n is gated by r: d(W_hn h + b_hn) = dn * r
        dh = None
        if self.needs[1]:
            dh = da @ self.w  # (B, 3H) @ (3H, H)
            dh += g * z
        dw = da.T @ h if self.needs[2] else None  # (3H, B) @ (B, H)
        return dxg, dh, dw, da.sum(axis=0)


class LSTMCell(Function):
    """Hochreiter & Schmidhuber (1997) with a forget gate (Gers et al., 2000), PyTorch's gate order i, f, g, o:
    c' = f * c + i * g, h' = o * tanh(c'). The state is [h, c] in one (B, 2H) array, so a step stays one node."""

    __slots__ = ("h", "c", "w", "i", "f", "gg", "o", "tc")

    def forward(self, xg, s, w, b):
        _check("LSTMCell", xg, s, w, 4, 2)
        H = w.shape[1]
        h, c = s[:, :H], s[:, H:]
        a = xg + h @ w.T  # (B, H) @ (H, 4H) -> (B, 4H)
        a += b
        B = a.shape[0]
        ifo = _sigmoid(a[:, np.r_[0 : 2 * H, 3 * H : 4 * H]])  # (B, 3H): i, f, o
        i, f, o = ifo[:, :H], ifo[:, H : 2 * H], ifo[:, 2 * H :]
        gg = np.tanh(a[:, 2 * H : 3 * H])  # (B, H)
        out = np.empty((B, 2 * H), dtype=a.dtype)  # [h', c']
        c2 = out[:, H:]
        np.multiply(f, c, out=c2)
        c2 += i * gg
        tc = np.tanh(c2)
        np.multiply(o, tc, out=out[:, :H])
        self.h, self.c = np.broadcast_to(h, (B, H)), np.broadcast_to(c, (B, H))
        self.w, self.i, self.f, self.gg, self.o, self.tc = w, i, f, gg, o, tc
        return out

    def backward(self, g):
        i, f, gg, o, tc = self.i, self.f, self.gg, self.o, self.tc
        H = tc.shape[1]
        gh, gc = g[:, :H], g[:, H:]
        dc = gh * o
        dc *= 1 - tc * tc
        dc += gc  # (B, H): d c', from h' and from the next step
        da = np.empty((g.shape[0], 4 * H), dtype=np.result_type(g, tc))  # (B, 4H): d of the gates' pre-activations
        da[:, :H] = dc * gg * i * (1 - i)
        da[:, H : 2 * H] = dc * self.c * f * (1 - f)
        da[:, 2 * H : 3 * H] = dc * i * (1 - gg * gg)
        da[:, 3 * H :] = gh * tc * o * (1 - o)
        ds = None
        if self.needs[1]:
            ds = np.empty((g.shape[0], 2 * H), dtype=da.dtype)
            np.matmul(da, self.w, out=ds[:, :H])  # (B, 4H) @ (4H, H)
            np.multiply(dc, f, out=ds[:, H:])
        dw = da.T @ self.h if self.needs[2] else None  # (4H, B) @ (B, H)
        return da, ds, dw, da.sum(axis=0)
