#!/usr/bin/env bash
# One command for the kernel comparison: byol's C++ kernels and the usual PyTorch code, under the
# same allocator (tcmalloc, preloaded into both processes: glibc's malloc returns freed megabyte
# blocks to the system, so temporaries page-fault on every call and timings swing 2-9x), then a
# table with ratios.
#
#   bench/run.sh [build-dir] [extra byol_bench flags...]
#
# ALLOCATOR=glibc uses glibc's malloc on both sides instead.
# Needs: the build (scripts/test.sh or cmake --build build), python3-torch, libtcmalloc-minimal4
# (scripts/install-deps.sh python3-torch python3-torchvision libtcmalloc-minimal4).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
shift || true
threads=${OMP_NUM_THREADS:-$(nproc)}
# ALLOCATOR=glibc bench/run.sh measures both sides with glibc's malloc instead.
tcmalloc=""
if [ "${ALLOCATOR:-tcmalloc}" = tcmalloc ]; then
  tcmalloc=$(ls /usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4 2>/dev/null || true)
  if [ -z "$tcmalloc" ]; then
    echo "bench/run.sh: libtcmalloc-minimal4 is missing (scripts/install-deps.sh libtcmalloc-minimal4)" >&2
    exit 1
  fi
fi
out=${BENCH_OUT:-$build/bench-results}
mkdir -p "$out"
echo "allocator: ${tcmalloc:-glibc malloc, default settings} for both sides; threads: $threads"
export OMP_NUM_THREADS=$threads
LD_PRELOAD=$tcmalloc "$build/bench/byol_bench" --benchmark_filter='BM_Loss|BM_Ema|BM_Lars|BM_ByolStep|BM_ByolViews' \
  --benchmark_min_time=0.5 --benchmark_repetitions=3 --benchmark_report_aggregates_only=true \
  --benchmark_out="$out/cpp.json" --benchmark_out_format=json "$@"
{
  LD_PRELOAD=$tcmalloc /usr/bin/python3 bench/python/bench_kernels.py --min-time 0.5
  LD_PRELOAD=$tcmalloc /usr/bin/python3 bench/python/byol_step.py --min-time 2
  LD_PRELOAD=$tcmalloc /usr/bin/python3 bench/python/augment_views.py --workers "$threads" --batches 8
} | tee "$out/python.jsonl"
/usr/bin/python3 bench/compare.py --cpp "$out/cpp.json" --python "$out/python.jsonl" | tee "$out/table.txt"
