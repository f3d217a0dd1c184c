#!/usr/bin/env bash
# Installs, idempotently and quietly, every Debian package snpemu needs that a fresh
# Debian bookworm machine may lack. Does nothing when all are present.
set -euo pipefail

PACKAGES=(
  bazel-bootstrap         # Bazel 4 (WORKSPACE mode), see BUILD-OFFLINE notes in README
  g++                     # project compiler (C++2b)
  clang-16                # --config=fuzz (libFuzzer; see .bazelrc for why 16)
  libclang-rt-16-dev      # libFuzzer, ASan and UBSan runtimes for clang 16
  googletest              # GoogleTest / GoogleMock sources
  libgtest-dev
  libgmock-dev
  libbenchmark-dev        # Google Benchmark
  libboost-container-dev  # Boost.Container
  libssl-dev              # OpenSSL libcrypto (firmware crypto)
  libunicorn-dev          # test oracle: instruction semantics
  libzydis-dev            # test oracle: instruction decoding
  nlohmann-json3-dev      # JSON (snpemu measure --manifest)
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

[ ${#missing[@]} -eq 0 ] && exit 0

echo "setup: installing ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "setup: done" >&2
