#!/usr/bin/env bash
# Builds one fuzz target with clang + libFuzzer + ASan + UBSan (--config=fuzz) and runs it for a
# bounded time.
#
#   tools/fuzz.sh //test/fuzz:mem_fuzz [SECONDS] [extra libFuzzer flags...]
#
# The fuzz build uses its own Bazel output base, so switching the compiler to clang never
# invalidates the cache of the normal g++ build. Findings land in $FUZZ_ARTIFACTS
# (default /tmp/snpemu-fuzz/<target>/).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh

target=${1:?usage: tools/fuzz.sh //pkg:target [SECONDS] [libFuzzer flags...]}
seconds=${2:-60}
shift $(( $# >= 2 ? 2 : 1 ))
case "$seconds" in ''|*[!0-9]*) echo "tools/fuzz.sh: SECONDS must be a number, got '$seconds'" >&2; exit 2;; esac

output_base="${HOME}/.cache/bazel/snpemu-fuzz-$(pwd | md5sum | cut -c1-8)"
bazel --output_base="$output_base" build --config=fuzz "$target"
name="${target##*:}"
pkg="${target#//}"; pkg="${pkg%%:*}"
bin="$(bazel --output_base="$output_base" info --config=fuzz bazel-bin 2>/dev/null)/$pkg/$name"
artifacts="${FUZZ_ARTIFACTS:-/tmp/snpemu-fuzz/$name}"
corpus="$artifacts/corpus"
mkdir -p "$corpus"
echo "fuzz: running $name for ${seconds}s (corpus $corpus)" >&2
"$bin" -max_total_time="$seconds" -artifact_prefix="$artifacts/" -print_final_stats=1 "$@" "$corpus"
