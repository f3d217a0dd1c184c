#!/usr/bin/env bash
# The main job: installs what is missing, builds snpemu and runs it. With no arguments it runs
# the built-in default scenario; any arguments are passed to snpemu (try --help).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
bazel build --noshow_progress //emu:snpemu 2>&1 | grep -vE '^(INFO|Loading|Analyzing|Target|  bazel-bin)' >&2 || true
exec bazel-bin/emu/snpemu "$@"
