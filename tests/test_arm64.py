"""Linux on ARM, for real: scripts/arm64_smoke.sh runs the smoke run of every rung (prepare, train a few steps,
sample, score) in an arm64 Debian under emulation (qemu-user-static through binfmt_misc) and on this machine, and the
two agree within float32 round-off. Slow (the emulated run takes minutes); skipped where the emulator, or the arm64
system the script makes on first use, is absent (docs/platforms.md says how to make it)."""

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from .shared_data import shared_file

ROOT = Path(__file__).resolve().parents[1]
ARM64_ROOT = Path(os.environ.get("LMLADDER_ARM64_ROOT") or Path.home() / ".cache" / "lmladder" / "arm64-root")


def _absent() -> str | None:
    if not shutil.which("qemu-aarch64-static"):
        return "qemu-user-static is not installed (apt-get install qemu-user-static binfmt-support)"
    if os.geteuid() != 0:
        return "the emulated system runs in a chroot: root only"
    if not (ARM64_ROOT / "opt" / "venv" / "bin" / "python").exists():
        return f"no arm64 system at {ARM64_ROOT}; make it once with sudo scripts/arm64_smoke.sh (docs/platforms.md)"
    return None


@pytest.mark.slow
@pytest.mark.skipif(_absent() is not None, reason=str(_absent()))
def test_aarch64_gives_the_numbers_of_x86_64(tmp_path):
    env = {**os.environ, "LMLADDER_ARM64_OUT": str(tmp_path), "LMLADDER_ARM64_ROOT": str(ARM64_ROOT)}
    r = subprocess.run(["bash", str(ROOT / "scripts" / "arm64_smoke.sh"), str(shared_file("names.txt"))], env=env,
                       capture_output=True, text=True, timeout=7200)  # fmt: skip
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "the same numbers within float32 round-off" in r.stdout, r.stdout
    arm, x86 = (json.loads((tmp_path / f"{m}.json").read_text(encoding="utf-8")) for m in ("aarch64", "x86_64"))
    assert (arm["machine"], x86["machine"]) == ("aarch64", "x86_64")
    assert {k for k, v in arm.items() if isinstance(v, dict)} == {k for k, v in x86.items() if isinstance(v, dict)}
