"""Multi-token prediction as an auxiliary loss (Gloeckle et al., 2024, "Better & Faster Large Language Models via
Multi-token Prediction"): besides the next token, the hidden state at each position also learns to predict the
tokens 2, 3, ..., k + 1 ahead, each through its own linear head. Only training computes it; scoring, sampling and
export read the next-token head alone, so a model trained with it computes the function of one without it."""

from __future__ import annotations

import numpy as np

from ..autograd import functional as F
from . import init
from .module import Module, Parameter


class FutureHeads(Module):
    """k heads in one (k, vocab, C) weight: head j reads the hidden state at position t and predicts the token
    j + 1 places past the next one's. Zero-initialised, so it draws nothing from the random generator (the rest of
    the model starts as it would without it) and its gradient reaches the trunk only as the heads learn."""

    def __init__(self, n_embd: int, vocab_size: int, k: int, weight: float, dtype=np.float32):
        self.loss_weight = weight
        self.weight = Parameter(init.zeros((k, vocab_size, n_embd), dtype))

    def forward(self, h, targets: np.ndarray, ignore_index: int):
        """h (B, T, C), the final norm's output; targets (B, T), the next token at each position, so the token j + 1
        ahead of position t is targets[:, t + j] -> loss_weight x the mean of the k heads' cross-entropies."""
        k = self.weight.shape[0]
        total = None
        for j in range(1, k + 1):
            logits = F.linear(h[:, :-j], self.weight[j - 1])  # (B, T - j, C) -> (B, T - j, vocab)
            loss = F.cross_entropy(logits, targets[:, j:], ignore_index=ignore_index)
            total = loss if total is None else total + loss
        return total * (self.loss_weight / k)
