"""The textbook lines train every rung as lmladder.fast does: with the numpy backend (LMLADDER_KERNELS=numpy, the
code docs/autograd.md walks through) each trainable rung's losses and weights after a few optimizer steps equal those
of LMLADDER_KERNELS=compiled to float32 rounding."""

import numpy as np
import pytest

from lmladder import nn
from lmladder.fast import switch
from lmladder.models import rung_class

from ..ladder import RUNGS, small_config

VOCAB, B, T, STEPS = 11, 4, 8, 8
MODERN = dict(pos="rope", qk_norm=True, activation="relu2", value_embeds=True, tie_weights=False, n_kv_head=1)
CASES = [(r, {}) for r in RUNGS if rung_class(r).trainable]
CASES += [("transformer", MODERN | {"dropout": 0.1}), ("transformer", {"dropout": 0.2, "bias": True})]
CASES += [("rnn", {"cell": "lstm"}), ("rnn", {"cell": "rnn"})]


def train(rung: str, options: dict, backend: str, muon: bool):
    """(losses, weights) of STEPS AdamW (or Muon) steps on fixed random batches, run with `backend`."""
    switch.set_backend(backend)
    try:
        rng = np.random.default_rng(0)
        model = rung_class(rung)(small_config(rung, VOCAB, **options), rng=rng)
        if muon:
            opt = nn.Muon(nn.muon_groups(model, 0.0), lr=3e-3, muon_lr=0.02)
        else:
            opt = nn.AdamW(nn.decay_groups(model.named_parameters(), 0.1), lr=3e-3)
        data = np.random.default_rng(1).integers(0, VOCAB, (STEPS, B, T + 1))
        losses = []
        for batch in data:
            _, loss = model(batch[:, :-1], batch[:, 1:])
            loss.backward()
            nn.clip_grad_norm(model.parameters(), 1.0)
            opt.step()
            opt.zero_grad()
            losses.append(float(loss.data))
        return losses, [p.data.copy() for p in model.parameters()]
    finally:
        switch.set_backend("compiled")


@pytest.mark.parametrize(("rung", "options"), CASES, ids=[f"{r}-{'-'.join(o) or 'plain'}" for r, o in CASES])
def test_the_textbook_lines_train_as_fast_does(rung, options):
    muon = options.get("qk_norm", False)  # the modern GPT trains by Muon, as its preset does
    textbook, compiled = train(rung, options, "numpy", muon), train(rung, options, "compiled", muon)
    np.testing.assert_allclose(textbook[0], compiled[0], rtol=2e-5)
    # Adam divides by the gradient's own scale: where a gradient is near 0, its rounding moves a weight by up to
    # ~lr (3e-3) a step, so weights agree to a small fraction of the steps taken, losses to float32 rounding
    for a, b in zip(textbook[1], compiled[1], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=3e-4)
