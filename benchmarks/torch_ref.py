"""The benchmark's optional PyTorch reference: the same architectures written plainly (nanoGPT / Zero-to-Hero style).

Imported only when torch is importable; lmladder itself never depends on torch. Two GPT variants: "plain" spells
attention out (matmul, mask, softmax, matmul) and uses the default AdamW; "fused" calls
F.scaled_dot_product_attention and AdamW(fused=True) where this torch supports it.
"""

from __future__ import annotations

import math

import torch
import torch.nn as tnn
import torch.nn.functional as TF


class Attn(tnn.Module):
    def __init__(self, C, H, T, sdpa):
        super().__init__()
        self.H, self.sdpa = H, sdpa
        self.c_attn = tnn.Linear(C, 3 * C, bias=False)
        self.c_proj = tnn.Linear(C, C, bias=False)
        self.register_buffer("mask", torch.tril(torch.ones(T, T, dtype=torch.bool)))

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(C, dim=2)
        q = q.view(B, T, self.H, C // self.H).transpose(1, 2)  # (B, H, T, hs)
        k = k.view(B, T, self.H, C // self.H).transpose(1, 2)
        v = v.view(B, T, self.H, C // self.H).transpose(1, 2)
        if self.sdpa:
            y = TF.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))  # (B, H, T, T)
            att = att.masked_fill(~self.mask[:T, :T], float("-inf"))
            y = TF.softmax(att, dim=-1) @ v  # (B, H, T, hs)
        return self.c_proj(y.transpose(1, 2).contiguous().view(B, T, C))


class Block(tnn.Module):
    def __init__(self, C, H, T, sdpa):
        super().__init__()
        self.ln_1 = tnn.LayerNorm(C, bias=False)
        self.attn = Attn(C, H, T, sdpa)
        self.ln_2 = tnn.LayerNorm(C, bias=False)
        self.c_fc = tnn.Linear(C, 4 * C, bias=False)
        self.gelu = tnn.GELU(approximate="tanh")  # lmladder's "gelu" is the tanh approximation
        self.c_proj = tnn.Linear(4 * C, C, bias=False)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.c_proj(self.gelu(self.c_fc(self.ln_2(x))))


class GPT(tnn.Module):
    def __init__(self, vocab, T, L, H, C, sdpa=False):
        super().__init__()
        self.wte = tnn.Embedding(vocab, C)
        self.wpe = tnn.Embedding(T, C)
        self.blocks = tnn.ModuleList(Block(C, H, T, sdpa) for _ in range(L))
        self.ln_f = tnn.LayerNorm(C, bias=False)
        self.lm_head = tnn.Linear(C, vocab, bias=False)
        self.lm_head.weight = self.wte.weight  # tied, as ours
        for p in self.parameters():
            if p.dim() >= 2:
                tnn.init.normal_(p, std=0.02)

    def forward(self, idx, targets=None):
        T = idx.shape[1]
        x = self.wte(idx) + self.wpe(torch.arange(T))
        for b in self.blocks:
            x = b(x)
        logits = self.lm_head(self.ln_f(x))
        loss = None if targets is None else TF.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))
        return logits, loss


class MLP(tnn.Module):
    """Zero-to-Hero part 2: C[X] -> flatten -> tanh(W1) -> W2, X of shape (batch, context)."""

    def __init__(self, vocab, context, n_embd, n_hidden):
        super().__init__()
        self.C = tnn.Embedding(vocab, n_embd)
        self.l1 = tnn.Linear(context * n_embd, n_hidden)
        self.l2 = tnn.Linear(n_hidden, vocab)

    def forward(self, X, Y):
        logits = self.l2(torch.tanh(self.l1(self.C(X).view(X.shape[0], -1))))
        return logits, TF.cross_entropy(logits, Y)


class GRU(tnn.Module):
    """Embedding -> torch.nn.GRU (one layer, a learned start state as lmladder's rung) -> linear head."""

    def __init__(self, vocab, n_embd, n_hidden):
        super().__init__()
        self.wte = tnn.Embedding(vocab, n_embd)
        self.gru = tnn.GRU(n_embd, n_hidden, batch_first=True)
        self.start = tnn.Parameter(torch.zeros(1, 1, n_hidden))
        self.head = tnn.Linear(n_hidden, vocab)

    def forward(self, idx, targets):
        h0 = self.start.expand(1, idx.shape[0], -1).contiguous()
        out, _ = self.gru(self.wte(idx), h0)  # (B, T, H)
        logits = self.head(out)
        return logits, TF.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))


def adamw(model, lr, betas, wd, fused):
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": wd}, {"params": no_decay, "weight_decay": 0.0}]
    kw = {"fused": True} if fused else {}
    try:
        return torch.optim.AdamW(groups, lr=lr, betas=betas, **kw)
    except (RuntimeError, TypeError):  # an old torch without fused CPU AdamW
        return torch.optim.AdamW(groups, lr=lr, betas=betas)


def train_step(model, opt, batches, clip=1.0):
    """A step closure cycling through pre-made (x, y) numpy batches, the same work as lmladder's loop."""
    data = [(torch.from_numpy(x), torch.from_numpy(y)) for x, y in batches]
    state = {"i": 0}

    def step():
        x, y = data[state["i"] % len(data)]
        state["i"] += 1
        _, loss = model(x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        opt.step()
        return loss.item()

    return step


@torch.no_grad()
def generate(model, idx, n, block):
    """nanoGPT's sampler: no KV cache, re-encodes the last `block` tokens for every new one."""
    for _ in range(n):
        logits, _ = model(idx[:, -block:])
        probs = TF.softmax(logits[:, -1], dim=-1)
        idx = torch.cat([idx, torch.multinomial(probs, 1)], dim=1)
    return idx
