#!/usr/bin/env bash
# Linux on ARM, for real: an aarch64 Debian under emulation runs lmladder's smoke run (scripts/smoke.py: prepare a
# corpus, train every rung a few steps, sample, score val and test), this machine runs the same, and the numbers of
# the two are compared within float32 round-off. Speed is not measured (an emulated CPU is 10-50x slower).
#
#   sudo scripts/arm64_smoke.sh [CORPUS]     # default corpus: names.txt of the team's shared data
#
# What it sets up on first use (root, Debian or Ubuntu, the Debian and PyPI registries reachable):
#   - qemu-user-static and binfmt-support from apt, binfmt_misc mounted: the kernel runs aarch64 programs through
#     qemu-aarch64-static, so a chroot into an arm64 file system behaves as an arm64 machine;
#   - an arm64 Debian bookworm root file system by debootstrap (minbase + python3) in $LMLADDER_ARM64_ROOT
#     (default ~/.cache/lmladder/arm64-root, about 400 MB), with a venv holding the aarch64 wheels of lmladder's
#     dependencies from PyPI at the versions of this machine's environment (pip runs inside, emulated: ~10 minutes).
# Every run copies src/ and scripts/ in afresh; the results go to $LMLADDER_ARM64_OUT (default /tmp/lmladder-arm64):
# x86_64.json, aarch64.json, and the comparison on stdout. Exit 0 when the numbers agree.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
root=${LMLADDER_ARM64_ROOT:-$HOME/.cache/lmladder/arm64-root}
out=${LMLADDER_ARM64_OUT:-/tmp/lmladder-arm64}
host_python=${PYTHON:-$repo/.venv/bin/python}
[ -x "$host_python" ] || host_python=python3
shared=${LMLADDER_SHARED_DATA:-$repo/../shared/data}
corpus=$(realpath "${1:-$shared/names.txt}")
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
# what the smoke run imports, pinned to this machine's versions so that both sides run the same code
deps="numpy numba llvmlite filelock psutil regex safetensors threadpoolctl tqdm pyyaml pandas pyarrow scipy"

say() { echo "arm64_smoke: $*" >&2; }
# a command in the arm64 system, with a clean environment (this machine's pip and SSL settings name its own files)
in_root() { chroot "$root" /usr/bin/env -i PATH=/usr/bin:/bin HOME=/root LANG=C.UTF-8 OMP_NUM_THREADS=1 "$@"; }
die() { say "error: $*"; exit 2; }

[ "$(id -u)" = 0 ] || die "run it as root (debootstrap, chroot and binfmt_misc need it): sudo $0"
[ -f "$corpus" ] || die "no corpus at $corpus; give a text file with a document per line, e.g. names.txt"

if ! command -v qemu-aarch64-static >/dev/null || ! command -v debootstrap >/dev/null; then
  say "installing qemu-user-static, binfmt-support and debootstrap (apt)"
  apt-get update -qq && apt-get install -y -qq qemu-user-static binfmt-support debootstrap >/dev/null
fi
if [ ! -e /proc/sys/fs/binfmt_misc/register ]; then
  mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc ||
    die "cannot mount binfmt_misc (a container without the privilege?); run it on a VM or a host"
fi
if [ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then
  update-binfmts --enable qemu-aarch64 || die "cannot register qemu-aarch64 with binfmt_misc"
fi

if [ ! -x "$root/usr/bin/python3" ]; then
  say "making an arm64 Debian bookworm in $root (debootstrap)"
  mkdir -p "$(dirname "$root")"
  debootstrap --arch=arm64 --variant=minbase --include=python3,python3-venv,ca-certificates bookworm "$root" "$mirror"
fi
[ "$(in_root uname -m)" = aarch64 ] || die "$root does not run as aarch64; check binfmt_misc's qemu-aarch64"

if [ ! -x "$root/opt/venv/bin/python" ]; then
  say "making the aarch64 venv (pip inside the emulator)"
  cp /etc/resolv.conf "$root/etc/resolv.conf"
  # this machine's certificate authorities: a registry behind a TLS-inspecting proxy stays reachable
  cp "${PIP_CERT:-${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}}" "$root/etc/ssl/host-ca.crt"
  pins=$("$host_python" -c "
import sys
from importlib.metadata import version
print(' '.join(f'{p}=={version(p)}' for p in sys.argv[1:]))" $deps)
  rm -rf "$root/opt/venv.partial"
  in_root /usr/bin/python3 -m venv /opt/venv.partial
  in_root /opt/venv.partial/bin/python -m pip install -q --cert /etc/ssl/host-ca.crt --only-binary=:all: $pins
  mv "$root/opt/venv.partial" "$root/opt/venv"  # only a complete venv counts as made
fi

# /proc, /sys and /dev as an arm64 machine has them (psutil, numba and OpenBLAS read them); unmounted on exit
trap 'for m in ${mounted:-}; do umount -l "$m"; done' EXIT
for fs in proc sys dev; do
  if ! mountpoint -q "$root/$fs"; then
    mount --bind "/$fs" "$root/$fs"
    mounted="${mounted:-} $root/$fs"
  fi
done

rm -rf "$root/opt/lmladder" && mkdir -p "$root/opt/lmladder" "$out"
cp -r "$repo/src" "$repo/scripts" "$root/opt/lmladder/"
cp "$corpus" "$root/opt/lmladder/corpus.txt"
find "$root/opt/lmladder" -name __pycache__ -prune -exec rm -rf {} +  # x86-64's numba cache is not aarch64's

say "x86-64 (this machine): $host_python scripts/smoke.py"
OMP_NUM_THREADS=1 PYTHONPATH="$repo/src" "$host_python" "$repo/scripts/smoke.py" --corpus "$corpus" --out "$out/x86_64.json"
say "aarch64 (emulated): /opt/venv/bin/python scripts/smoke.py"
start=$(date +%s)
in_root PYTHONPATH=/opt/lmladder/src /opt/venv/bin/python /opt/lmladder/scripts/smoke.py --corpus /opt/lmladder/corpus.txt --out /tmp/aarch64.json
cp "$root/tmp/aarch64.json" "$out/aarch64.json"
say "the aarch64 run took $(($(date +%s) - start)) s (emulated)"
"$host_python" "$repo/scripts/smoke.py" --compare "$out/x86_64.json" "$out/aarch64.json"
