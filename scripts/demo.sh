#!/usr/bin/env bash
# The main job on a fresh Debian 12 machine: installs what is missing, builds the examples and
# runs BYOL on Fashion-MNIST (pre-training, then k-NN and linear evaluation against random
# initialisation). About 7 minutes on 2 cores. Extra arguments go to the example
# (scripts/demo.sh --help lists them); the run's files go to runs/fashion_mnist-<time>/ unless
# --out is given.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh

build=${BUILD_DIR:-build}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release
cmake --build "$build" -j "$(nproc)" --target fashion_mnist
args=("$@")
if [[ " $* " != *" --out "* && " $* " != *" --out="* ]]; then
  args+=(--out "runs/fashion_mnist-$(date +%Y%m%d-%H%M%S)")
fi
exec "$build/examples/fashion_mnist" "${args[@]}"
