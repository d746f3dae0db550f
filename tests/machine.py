"""Which machine a fixture's weight digest was taken on. Training's bits are the same on the same machine, not across
CPUs: NumPy picks its SIMD kernels (exp, tanh, sums) and numba compiles for the CPU it runs on, so a resumed
checkpoint's weights differ in the last float32 bit between, say, a Xeon and a Zen 4. A digest is checked where its
machine is recorded, keyed by lmladder.resources.cpu_model(); everywhere the scores are checked to float32 round-off."""

from lmladder.resources import cpu_model


def digest_here(digests: dict[str, str]) -> str | None:
    """The digest recorded for this machine, or None where none was."""
    return digests.get(cpu_model())
