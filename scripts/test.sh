#!/usr/bin/env bash
# Builds byol (library checks, tests, examples, benchmarks) and runs every test with CTest, in
# each test lane. What CI runs (.ci/run), and the README's test command.
#
#   scripts/test.sh                 # every lane, one after the other
#   scripts/test.sh --lane 1.13     # one lane alone, for quick work (repeat --lane for several)
#   scripts/test.sh --lane 2.x
#   scripts/test.sh --lane sanitize
#
# Lanes:
#   1.13  this Debian 12 machine: LibTorch 1.13.1, g++ 12, CMake 3.25, Catch2 2.13, Google
#         Benchmark 1.7, Python's torch 1.13; build folder $BUILD_DIR (default build/). It first
#         installs the Debian 12 packages it needs (scripts/install-deps.sh).
#   2.x   a Debian 13 root (scripts/debian-root.sh, made once and reused): LibTorch 2.6.0,
#         g++ 14, CMake 3.31, Catch2 3.7, Google Benchmark 1.9, Python's torch 2.6 and
#         torchvision 0.21; build folder build-2x/. A 2.x failure reproduces with this lane alone.
#   sanitize  this Debian 12 machine again, with clang 14: the unit tests under AddressSanitizer
#         and UndefinedBehaviorSanitizer (-O1 -g1), and libFuzzer on the IDX, CIFAR, PNG and JPEG
#         readers for BYOL_FUZZ_SECONDS (default 20) each from tests/fuzz/corpus/; build folder
#         build-asan/. Only the test binary and the fuzz targets are built (tests/sanitize/README.md).
#
# Every lane runs even when an earlier one fails; the exit status is 0 only when all passed.
# JOBS sets the build's and CTest's parallelism (default: the number of cores).
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { sed -n '2,25p' "$0"; }

# Inside a lane: configure with no flags but the build type, build everything, run every test.
if [ "${1:-}" = "--in-lane" ]; then
  build=$2
  jobs=${JOBS:-$(nproc)}
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release
  cmake --build "$build" -j "$jobs"
  cd "$build"
  exec ctest -j "$jobs" --output-on-failure --timeout 900
fi

# Inside the sanitize lane: clang, sanitizers, the unit tests and the fuzz targets alone.
if [ "${1:-}" = "--in-sanitize-lane" ]; then
  build=$2
  jobs=${JOBS:-$(nproc)}
  cmake -S . -B "$build" -DCMAKE_CXX_COMPILER=clang++-14 -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g1" -DBYOL_SANITIZE=address,undefined -DBYOL_BUILD_FUZZERS=ON \
    "-DBYOL_FUZZ_SECONDS=${BYOL_FUZZ_SECONDS:-20}" -DBYOL_REQUIRE_DATA=ON -DBYOL_REQUIRE_TESTS=ON \
    -DBYOL_BUILD_EXAMPLES=OFF -DBYOL_BUILD_BENCHMARKS=OFF -DBYOL_INSTALL=OFF
  cmake --build "$build" -j "$jobs" --target byol_tests fuzz_idx fuzz_cifar fuzz_png fuzz_jpeg
  cd "$build"
  exec ctest -j "$jobs" --output-on-failure --timeout 900
fi

lanes=()
while [ $# -gt 0 ]; do
  case "$1" in
    --lane) [ $# -ge 2 ] || { usage >&2; exit 2; }; lanes+=("$2"); shift 2 ;;
    --lane=*) lanes+=("${1#--lane=}"); shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "test.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
  esac
done
[ ${#lanes[@]} -gt 0 ] || lanes=(1.13 2.x sanitize)
for lane in "${lanes[@]}"; do
  case "$lane" in
    1.13|2.x|sanitize) ;;
    *) echo "test.sh: unknown lane '$lane' (1.13, 2.x or sanitize)" >&2; exit 2 ;;
  esac
done

logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
summary=()
passed=0 failed=0 skipped=0 status=0
for lane in "${lanes[@]}"; do
  start=$(date +%s)
  echo "==== lane $lane: $(date -u +%H:%M:%S)"
  rc=0
  case "$lane" in
    1.13)
      scripts/install-deps.sh
      scripts/test.sh --in-lane "${BUILD_DIR:-build}" 2>&1 | tee "$logs/$lane.log" || rc=$?
      ;;
    2.x)
      scripts/debian-root.sh run lts2x -- scripts/test.sh --in-lane build-2x 2>&1 | tee "$logs/$lane.log" || rc=$?
      ;;
    sanitize)
      scripts/install-deps.sh
      scripts/test.sh --in-sanitize-lane build-asan 2>&1 | tee "$logs/$lane.log" || rc=$?
      ;;
  esac
  # CTest's per-test lines: "  1/25 Test  #3: unit.loss ......   Passed  1.2 sec".
  p=$(grep -cE '^ *[0-9]+/[0-9]+ Test +#[0-9]+: .* +Passed' "$logs/$lane.log" || true)
  f=$(grep -cE '^ *[0-9]+/[0-9]+ Test +#[0-9]+: .*\*\*\*(Failed|Exception|Timeout)|Not Run' "$logs/$lane.log" || true)
  s=$(grep -cE '^ *[0-9]+/[0-9]+ Test +#[0-9]+: .*\*\*\*Skipped' "$logs/$lane.log" || true)
  passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
  verdict=passed
  if [ "$rc" -ne 0 ]; then
    verdict="FAILED (exit $rc)"
    status=1
  fi
  summary+=("lane $lane: $verdict in $(($(date +%s) - start)) s; tests: $p passed, $f failed, $s skipped")
done

echo "==== summary"
printf '%s\n' "${summary[@]}"
echo "tests: $passed passed, $failed failed, $skipped skipped"
exit $status
