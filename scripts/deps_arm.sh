#!/usr/bin/env bash
# Installs what `make check-arm` needs on a Debian x86-64 host: the aarch64
# cross compiler, qemu's user-mode emulator and the arm64 builds of the
# libraries libcape links (Debian multiarch, `dpkg --add-architecture arm64`).
# libgsl-dev is not co-installable across architectures (its arm64 build
# would replace the host's), so only GSL's arm64 runtime libraries are
# installed: the host's headers serve both, and make check-arm links
# libgsl.so.27 through a symlink in build/arm/lib. As root it runs dpkg and
# apt-get; otherwise it prints the commands and stops.
set -euo pipefail
host=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user libgsl-dev)
arm=(libgsl27 libgslcblas0 libopenblas-dev liblapacke-dev libjansson-dev libpcre2-dev libcmocka-dev
     libmicrohttpd-dev zlib1g-dev)
missing=()
for p in "${host[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
for p in "${arm[@]}"; do
  dpkg-query -W -f='${Status}' "$p:arm64" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p:arm64")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "cape: missing packages for check-arm; run:" >&2
  echo "  sudo dpkg --add-architecture arm64 && sudo apt-get update &&" \
       "sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "cape: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
dpkg --print-foreign-architectures | grep -qx arm64 || dpkg --add-architecture arm64
apt-get update >/dev/null
apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null
