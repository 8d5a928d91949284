#!/usr/bin/env bash
# The main job on a fresh Debian 12 machine: installs what is missing, builds the examples and
# runs BYOL. Arguments are passed to the example.
#
#   scripts/demo.sh [flags...]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh

build=${BUILD_DIR:-build}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release
cmake --build "$build" -j "$(nproc)" --target synthetic_byol
exec "$build/examples/synthetic_byol" "$@"
