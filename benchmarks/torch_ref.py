"""The benchmark's optional PyTorch reference: the same architectures written plainly (nanoGPT / Zero-to-Hero style).

Imported only when torch is importable; lmladder itself never depends on torch. Two GPT variants: "plain" spells
attention out (matmul, mask, softmax, matmul) and uses the default AdamW; "fused" calls
F.scaled_dot_product_attention and AdamW(fused=True) where this torch supports it. The GPT takes lmladder's
GPTConfig options (the modern transformer) and parameter names, written from the papers, not from lmladder: it is
the reference tests/models/test_gpt_torch_parity.py matches in float64. `muon` is torch.optim.Muon + AdamW.
"""

from __future__ import annotations

import math

import torch
import torch.nn as tnn
import torch.nn.functional as TF


def rms(x, eps=1e-5):
    """x / sqrt(mean(x^2) + eps) over the last dim, no gain (QK-norm; Zhang & Sennrich, 2019)."""
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps)


def rope_tables(T, d, base):
    """cos, sin of angle t * base^(-2i/d) for t < T, i < d/2, in float64: (T, 1, d/2) each, broadcast over heads."""
    inv_freq = base ** (-torch.arange(0, d, 2, dtype=torch.float64) / d)  # (d/2,)
    angles = torch.outer(torch.arange(T, dtype=torch.float64), inv_freq)  # (T, d/2)
    return angles.cos()[:, None, :], angles.sin()[:, None, :]


def rope(x, cos, sin):
    """Rotary embedding (Su et al., 2021) of x (B, T, H, d), GPT-NeoX's "rotate half": the halves (x1, x2) of each
    head turn by their angle, y1 = x1 cos - x2 sin, y2 = x2 cos + x1 sin."""
    T = x.shape[1]
    cos, sin = cos[:T].to(x.dtype), sin[:T].to(x.dtype)
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin], dim=-1)


class Attn(tnn.Module):
    """Causal self-attention; c_attn's output is [q (H d) | k (H_kv d) | v (H_kv d)] (grouped-query attention with
    H_kv < H, Ainslie et al., 2023). Options: QK-norm, then rotary positions, on q and k; a value embedding on v."""

    def __init__(
        self, C, H, T, sdpa, Hkv=None, bias=False, rope_base=None, qk_norm=False, dropout=0.0, conv=0, lam=False
    ):
        super().__init__()
        self.H, self.Hkv, self.d, self.sdpa, self.qk_norm = H, Hkv or H, C // H, sdpa, qk_norm
        self.p = dropout
        self.attn_drop, self.resid_drop = tnn.Dropout(dropout), tnn.Dropout(dropout)
        self.c_attn = tnn.Linear(C, (H + 2 * self.Hkv) * self.d, bias=bias)
        self.c_proj = tnn.Linear(C, C, bias=bias)
        if conv:  # Canon-B: on c_attn's output, q, k and v together
            self.conv = CausalConv((H + 2 * self.Hkv) * self.d, conv)
        if lam:  # the value residual's mixing weight (ResFormer), 0.5 to start
            self.lam = tnn.Parameter(torch.full((1,), 0.5))
        self.register_buffer("mask", torch.tril(torch.ones(T, T, dtype=torch.bool)))
        self.rope = rope_base is not None
        if self.rope:
            cos, sin = rope_tables(T, self.d, rope_base)
            self.register_buffer("cos", cos, persistent=False)
            self.register_buffer("sin", sin, persistent=False)

    def forward(self, x, ve=None, v1=None):
        B, T, C = x.shape
        H, Hkv, d = self.H, self.Hkv, self.d
        qkv = self.c_attn(x)
        if hasattr(self, "conv"):
            qkv = self.conv(qkv)
        q, k, v = qkv.split([H * d, Hkv * d, Hkv * d], dim=2)
        if ve is not None:
            v = v + ve  # (B, T, H_kv d)
        if v1 is not None and hasattr(self, "lam"):  # a later layer: (1 - lam) v + lam v1
            v = (1 - self.lam) * v + self.lam * v1[0]
        elif v1 is not None:  # the first layer's values, for the later ones
            v1.append(v)
        q, k, v = q.view(B, T, H, d), k.view(B, T, Hkv, d), v.view(B, T, Hkv, d)
        if self.qk_norm:
            q, k = rms(q), rms(k)
        if self.rope:
            q, k = rope(q, self.cos, self.sin), rope(k, self.cos, self.sin)
        if Hkv != H:  # each key/value head serves H / H_kv consecutive query heads
            k, v = k.repeat_interleave(H // Hkv, dim=2), v.repeat_interleave(H // Hkv, dim=2)
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)  # (B, H, T, d)
        if self.sdpa:
            y = TF.scaled_dot_product_attention(q, k, v, dropout_p=self.p if self.training else 0.0, is_causal=True)
        else:
            att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))  # (B, H, T, T)
            att = att.masked_fill(~self.mask[:T, :T], float("-inf"))
            y = self.attn_drop(TF.softmax(att, dim=-1)) @ v  # (B, H, T, d)
        return self.resid_drop(self.c_proj(y.transpose(1, 2).contiguous().view(B, T, C)))


class ReLU2(tnn.Module):
    def forward(self, x):
        return TF.relu(x).square()  # Primer's squared ReLU (So et al., 2021)


# lmladder's activation names; its "gelu" is the tanh approximation
ACTIVATIONS = {
    "gelu": lambda: tnn.GELU(approximate="tanh"), "gelu_exact": tnn.GELU, "relu": tnn.ReLU, "tanh": tnn.Tanh,
    "relu2": ReLU2,
}  # fmt: skip


class MLP4(tnn.Module):
    def __init__(self, C, activation, bias, dropout, conv=0):
        super().__init__()
        self.c_fc = tnn.Linear(C, 4 * C, bias=bias)
        if conv:  # Canon-D: on the hidden layer, before the activation
            self.conv = CausalConv(4 * C, conv)
        self.act = ACTIVATIONS[activation]()
        self.c_proj = tnn.Linear(4 * C, C, bias=bias)
        self.drop = tnn.Dropout(dropout)

    def forward(self, x):
        h = self.c_fc(x)
        return self.drop(self.c_proj(self.act(self.conv(h) if hasattr(self, "conv") else h)))


def norm(kind, C, bias):
    return tnn.LayerNorm(C, eps=1e-5, bias=bias) if kind == "layernorm" else tnn.RMSNorm(C, eps=1e-5)


class CausalConv(tnn.Module):
    """x + a depthwise causal convolution over time, y_t = x_t + sum_{k<K} w[k] * x_{t-k} per channel (Allen-Zhu's
    Canon layers), the weight a flat (K * C) vector, w[k] = weight[k * C : (k + 1) * C], starting at zero."""

    def __init__(self, C, K):
        super().__init__()
        self.K, self.weight = K, tnn.Parameter(torch.zeros(K * C))

    def forward(self, x):
        w = self.weight.view(self.K, x.shape[-1])  # w[k]: the weight of x_{t-k}
        kernel = w.flip(0).t().unsqueeze(1)  # (C, 1, K): conv1d correlates, so x_{t-k} sits at tap K - 1 - k
        padded = TF.pad(x.transpose(1, 2), (self.K - 1, 0))  # (B, C, K - 1 + T): zeros before the first position
        return x + TF.conv1d(padded, kernel, groups=x.shape[-1]).transpose(1, 2)


class Block(tnn.Module):
    def __init__(self, C, H, T, sdpa, o, layer):
        super().__init__()
        self.ln_1 = norm(o["norm"], C, o["bias"])
        rope_base = o["rope_base"] if o["pos"] == "rope" else None
        conv = o["lookback"].get("conv", {})  # Canon layers at Allen-Zhu's places a, b, c, d
        K, at = conv.get("kernel", 0), conv.get("at", "ac")
        lam = o["value_residual"] and layer > 0
        attn = (o["n_kv_head"], o["bias"], rope_base, o["qk_norm"], o["dropout"], K if "b" in at else 0, lam)
        self.attn = Attn(C, H, T, sdpa, *attn)
        self.ln_2 = norm(o["norm"], C, o["bias"])
        self.mlp = MLP4(C, o["activation"], o["bias"], o["dropout"], K if "d" in at else 0)
        self.conv_1 = CausalConv(C, K) if K and "a" in at else tnn.Identity()  # before attention
        self.conv_2 = CausalConv(C, K) if K and "c" in at else tnn.Identity()  # before the MLP

    def forward(self, x, ve=None, v1=None):
        x = x + self.attn(self.conv_1(self.ln_1(x)), ve, v1)
        return x + self.mlp(self.conv_2(self.ln_2(x)))


# lmladder's GPTConfig options and their defaults: nanoGPT's GPT-2
OPTIONS = dict(
    dropout=0.0, bias=False, norm="layernorm", activation="gelu", tie_weights=True, pos="learned", rope_base=10000.0,
    qk_norm=False, zero_init_proj=False, logit_softcap=None, value_embeds=False, value_residual=False, n_kv_head=None,
    lookback={},
)  # fmt: skip


class GPT(tnn.Module):
    """nanoGPT's GPT (dropout where nanoGPT has it), and with options (GPTConfig's names) the modern one of
    modded-nanogpt / nanochat: rotary
    positions instead of the table, QK-norm, ReLU^2, zero output projections, a logit soft-cap cap tanh(z / cap),
    an untied head, value embeddings on the layers i with i % 2 == (L - 1) % 2, the value residual (ResFormer),
    grouped-query attention, and causal convolutions at Allen-Zhu's places (lookback.conv: kernel, at).
    Parameter names are lmladder's, so weights copy across by name."""

    def __init__(self, vocab, T, L, H, C, sdpa=False, **options):
        super().__init__()
        unknown = set(options) - set(OPTIONS)
        if unknown:
            raise ValueError(f"torch_ref.GPT: unknown options {sorted(unknown)}; known: {sorted(OPTIONS)}")
        o = {**OPTIONS, **options}
        if set(o["lookback"]) - {"conv"}:  # the convolution is the one look-back written here
            raise ValueError(f"torch_ref.GPT: lookback={o['lookback']}; only lookback=dict(conv=...) is known")
        self.softcap, self.value_residual = o["logit_softcap"], o["value_residual"]
        self.wte = tnn.Embedding(vocab, C)
        self.wpe = tnn.Embedding(T, C) if o["pos"] == "learned" else None
        self.drop = tnn.Dropout(o["dropout"])
        self.blocks = tnn.ModuleList(Block(C, H, T, sdpa, o, i) for i in range(L))
        self.ln_f = norm(o["norm"], C, o["bias"])
        self.lm_head = tnn.Linear(C, vocab, bias=False)
        if o["tie_weights"]:
            self.lm_head.weight = self.wte.weight
        kv_width = (o["n_kv_head"] or H) * (C // H)
        self.ve_layers = [i for i in range(L) if o["value_embeds"] and i % 2 == (L - 1) % 2]
        self.value_embeds = tnn.ModuleList(tnn.Embedding(vocab, kv_width) for _ in self.ve_layers)
        with torch.no_grad():
            for name, p in self.named_parameters():
                if p.dim() >= 2:
                    tnn.init.normal_(p, std=0.02)
                elif name.endswith(".bias"):
                    p.zero_()  # nanoGPT's _init_weights (LayerNorm's biases start at zero anyway)
                if o["zero_init_proj"] and name.endswith("c_proj.weight"):
                    p.zero_()

    def forward(self, idx, targets=None):
        T = idx.shape[1]
        x = self.wte(idx)  # (B, T, C)
        if self.wpe is not None:
            x = x + self.wpe(torch.arange(T))
        x = self.drop(x)
        ves = dict(zip(self.ve_layers, self.value_embeds, strict=True))
        v1 = [] if self.value_residual else None
        for i, b in enumerate(self.blocks):
            x = b(x, ves[i](idx) if i in ves else None, v1)
        logits = self.lm_head(self.ln_f(x))  # (B, T, vocab)
        if self.softcap is not None:
            logits = self.softcap * torch.tanh(logits / self.softcap)
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


def adamw(params, lr, betas, wd, fused):
    """AdamW with nanoGPT's groups: decay on >= 2-D weights, none on gains and biases."""
    params = list(params)
    decay = [p for p in params if p.dim() >= 2]
    no_decay = [p for p in params if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": wd}, {"params": no_decay, "weight_decay": 0.0}]
    kw = {"fused": True} if fused else {}
    try:
        return torch.optim.AdamW(groups, lr=lr, betas=betas, **kw)
    except (RuntimeError, TypeError):  # an old torch without fused CPU AdamW
        return torch.optim.AdamW(groups, lr=lr, betas=betas)


class Chain:
    """Several optimizers stepped as one (Muon for the hidden matrices, AdamW for the rest)."""

    def __init__(self, *opts):
        self.opts = opts

    def zero_grad(self, set_to_none=True):
        for o in self.opts:
            o.zero_grad(set_to_none=set_to_none)

    def step(self):
        for o in self.opts:
            o.step()


def muon(model, lr, betas, wd, fused, muon_lr, momentum=0.95, nesterov=True, ns_steps=5):
    """torch.optim.Muon (lr muon_lr) for the blocks' matrices, AdamW (lr, nanoGPT's decay groups) for the rest:
    embeddings, the head, norm gains and biases -- lmladder's muon_groups."""
    hidden = [p for n, p in model.named_parameters() if n.startswith("blocks.") and p.dim() == 2]
    ids = {id(p) for p in hidden}
    rest = [p for p in model.parameters() if id(p) not in ids]
    m = torch.optim.Muon(hidden, lr=muon_lr, weight_decay=wd, momentum=momentum, nesterov=nesterov, ns_steps=ns_steps)
    return Chain(m, adamw(rest, lr, betas, wd, fused))


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


@torch.no_grad()
def generate_kv(model, idx, n, block):
    """Batch decoding with a KV cache for nanoGPT's GPT (learned positions, no modern options), as lmladder's
    sampler does it: every layer's keys/values in preallocated (B, H, block, d) buffers, one new token per step
    through sdpa over the cached ones; a full cache restarts from the last block - block // 4 tokens."""
    B, C = idx.shape[0], model.wte.weight.shape[1]
    caches = [
        (torch.empty(B, b.attn.H, block, b.attn.d), torch.empty(B, b.attn.H, block, b.attn.d)) for b in model.blocks
    ]
    length, feed = 0, idx[:, -block:]
    for _ in range(n):
        if length + feed.shape[1] > block:  # full: re-encode the window's last 3/4 from an empty cache
            length, feed = 0, idx[:, -(block - block // 4) :]
        T = feed.shape[1]
        x = model.wte(feed) + model.wpe(torch.arange(length, length + T))
        for b, (kc, vc) in zip(model.blocks, caches, strict=True):
            a = b.attn
            q, k, v = a.c_attn(b.ln_1(x)).split(C, dim=2)
            q, k, v = (t.view(B, T, a.H, a.d).transpose(1, 2) for t in (q, k, v))  # (B, H, T, d)
            kc[:, :, length : length + T], vc[:, :, length : length + T] = k, v
            k, v = kc[:, :, : length + T], vc[:, :, : length + T]
            y = TF.scaled_dot_product_attention(q, k, v, is_causal=T > 1)  # one new query sees every cached key
            x = x + a.c_proj(y.transpose(1, 2).reshape(B, T, C))
            x = x + b.mlp(b.ln_2(x))
        probs = TF.softmax(model.lm_head(model.ln_f(x[:, -1])), dim=-1)
        nxt = torch.multinomial(probs, 1)
        length += T
        idx, feed = torch.cat([idx, nxt], dim=1), nxt
    return idx
