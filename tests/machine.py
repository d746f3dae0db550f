"""Which machine a fixture's weight digest was taken on. Training's bits are the same on the same machine, not across
CPUs: NumPy picks its SIMD kernels (exp, tanh, sums) and numba compiles for the CPU it runs on, so a resumed
checkpoint's weights differ in the last float32 bit between, say, a Xeon and a Zen 4. A digest is checked where its
machine is recorded; everywhere the scores are checked to float32 round-off."""

from pathlib import Path


def machine_key() -> str:
    """'<vendor> family <f> model <m>' from /proc/cpuinfo (e.g. 'AuthenticAMD family 25 model 17'), else ''."""
    try:
        first = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").split("\n\n")[0]
    except OSError:
        return ""
    info = {k.strip(): v.strip() for k, v in (line.split(":", 1) for line in first.splitlines() if ":" in line)}
    if "vendor_id" not in info:
        return ""
    return f"{info['vendor_id']} family {info.get('cpu family', '?')} model {info.get('model', '?')}"


def digest_here(digests: dict[str, str]) -> str | None:
    """The digest recorded for this machine, or None where none was."""
    return digests.get(machine_key())
