"""Compile lmladder's numba kernels into numba's cache before the test workers start (conftest.py).

numba keeps each compiled kernel in __pycache__ beside its source (cache=True), so a clone pays for compiling once.
Without this, in a fresh clone every xdist worker, and every subprocess a test starts before the cache is written,
compiled the same kernels side by side. Here each of N processes compiles one share: the serial twins (a GPT's
step and sampling at a small size), the threaded ones (the same at a size past the kernels' serial threshold), the
data loops. A share is what the models run, not a list of kernels, so a new kernel is covered when a model uses it.

    python -m tests.warm_kernels K N      # share K of N (N > 1: small and big sizes in different processes)
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

import numpy as np

import lmladder

_ROOT = Path(__file__).resolve().parent.parent
# (B, T, n_embd): 2 x 8 x 32 stays under every kernel's serial threshold; 16 x 64 x 64 (65,536 values a
# layer-norm input, 1,024 rows a GEMM) passes them all
SMALL, BIG = (2, 8, 32), (16, 64, 64)
GPTS = (  # the classic block, without and with biases, and the modern one (RMS norm, ReLU^2, rotary, QK-norm)
    {},
    {"bias": True},
    {"norm": "rmsnorm", "activation": "relu2", "pos": "rope", "qk_norm": True},
)


def _gpt_step(size, options: dict, sample: bool) -> None:
    """One AdamW step of a 2-layer GPT, with dropout (its masks and their kernels), then a KV-cached sample."""
    from lmladder import nn
    from lmladder.autograd import no_grad
    from lmladder.inference.sampling import generate
    from lmladder.models.transformer import GPT, GPTConfig

    B, T, C = size
    rng = np.random.default_rng(0)
    config = GPTConfig(block_size=T, n_layer=2, n_head=4, n_embd=C, dropout=0.1, vocab_size=11, **options)
    model = GPT(config, rng=rng)
    opt = nn.AdamW(nn.decay_groups(model.named_parameters(), 0.1), lr=1e-3)
    idx = rng.integers(0, 11, size=(B, T))
    _, loss = model(idx, idx)
    loss.backward()
    opt.step()
    if sample:
        model.eval()
        with no_grad():
            generate(model, idx[:1, :2], T - 2, rng=rng)


def _data() -> None:
    """The corpus loops: a split's shuffle past its Python threshold."""
    from lmladder.data.shuffle import JIT_FROM, shuffled_range

    shuffled_range(JIT_FROM, 42)


def shares(n: int) -> list[list]:
    """The warm-up work cut into n shares (the small sizes, the big ones and the data loops apart where n allows)."""
    small = [lambda o=o: _gpt_step(SMALL, o, sample=True) for o in GPTS]
    big = [lambda o=o: _gpt_step(BIG, o, sample=False) for o in GPTS]
    parts = [small, big, [_data]]
    cut = [[] for _ in range(min(n, len(parts)))]
    for i, part in enumerate(parts):
        cut[i % len(cut)].extend(part)
    return cut


def stamp() -> str:
    """What numba's cache is keyed to, for every lmladder file that holds kernels (their path, size and time, as
    numba checks them) and the interpreter and numba that compile them: while it is unchanged the cache that the
    last warm-up wrote is still valid, and a test run skips the warm-up."""
    h = hashlib.sha256(f"{sys.executable} {sys.version} {metadata.version('numba')}".encode())
    for f in sorted(Path(lmladder.__file__).parent.rglob("*.py")):
        if "numba" in (text := f.read_text(encoding="utf-8")) or "_jit" in text:
            st = f.stat()
            h.update(f"{f} {st.st_size} {st.st_mtime_ns}".encode())
    return h.hexdigest()


def warm(processes: int) -> tuple[bool, str]:
    """Run the shares in `processes` processes side by side (each pays numba's import): (all went well, one line
    on how it went). Never raises: a kernel that cannot compile fails the tests that use it, with its traceback."""
    n = len(shares(processes))
    start = time.perf_counter()
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.warm_kernels", str(k), str(n)],
            cwd=_ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for k in range(n)
    ]
    errors = [(p.communicate()[1].strip().splitlines() or ["no message"])[-1] for p in procs]
    failed = [e for p, e in zip(procs, errors, strict=True) if p.returncode]
    took = f"{time.perf_counter() - start:.1f} s in {n} processes"
    if failed:
        return False, f"numba kernels: the warm-up failed ({failed[0]}); {took}"
    return True, f"numba kernels compiled into numba's cache before the workers start: {took}"


if __name__ == "__main__":
    k, n = int(sys.argv[1]), int(sys.argv[2])
    for work in shares(n)[k]:
        work()
