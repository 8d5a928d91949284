#!/usr/bin/env bash
# Builds byol (library checks, tests, examples, benchmarks) and runs every test with CTest.
# On a fresh Debian 12 machine it first installs what it needs.
#
#   scripts/test.sh            # build dir: build/
#   BUILD_DIR=out scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh

build=${BUILD_DIR:-build}
jobs=${JOBS:-$(nproc)}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release
cmake --build "$build" -j "$jobs"
cd "$build"
ctest -j "$jobs" --output-on-failure --timeout 900
