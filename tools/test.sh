#!/usr/bin/env bash
# The whole test suite: installs what is missing, then `bazel test //...` (extra arguments are
# passed to bazel test, e.g. --config=asan). Prints Bazel's per-target test summary.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
exec bazel test --test_summary=short "$@" //...
