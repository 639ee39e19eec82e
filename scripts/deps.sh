#!/usr/bin/env bash
# Installs the Debian packages cape builds against, when they are missing.
# As root it runs apt-get; otherwise it prints the exact command and stops.
# Arguments name further packages (scripts/fuzz.sh adds clang and its fuzzer
# runtime).
set -euo pipefail
pkgs=(gcc make pkg-config libopenblas-dev liblapacke-dev libgsl-dev libjansson-dev
      libcmocka-dev libmicrohttpd-dev libpcre2-dev zlib1g-dev "$@")
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ]; then
  echo "cape: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null 2>&1 ||
    { apt-get update >/dev/null && apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null; }
else
  echo "cape: missing Debian packages; run: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
