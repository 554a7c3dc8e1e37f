#!/usr/bin/env bash
# scripts/setup-deps.sh - make sure the Debian packages Tally builds with are installed.
# As root it installs what is missing; otherwise it prints the exact apt-get line and fails.
set -euo pipefail
PKGS=(build-essential cmake pkg-config clang libfuzzer-14-dev liburcu-dev libmimalloc-dev libgtest-dev
      libbenchmark-dev libjson-c-dev gnuplot-nox python3 spin strace)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "setup: missing Debian packages. Run:" >&2
  echo "  sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
