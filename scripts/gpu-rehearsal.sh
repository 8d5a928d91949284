#!/usr/bin/env bash
# The GPU check's rehearsal on a machine without a GPU: scripts/gpu-check.sh, end to end, in a
# Debian 13 root that stands in for the GPU machine (LibTorch 2.6 and Python's torch, CMake,
# ninja and g++; no Catch2, Google Benchmark, TurboJPEG, libpng, CLI11 or PLplot: the `bare` root of
# scripts/debian-root.sh), from a clean clone of HEAD and with only what
# scripts/pack-gpu-deps.sh packs. Only the CUDA steps are skipped, so a device run can fail
# only on what needs a GPU. Commit first: the clone has only what HEAD has.
#
#   scripts/gpu-rehearsal.sh            # results in build-rehearsal/out (at most 8 files)
#
# Needs root (debootstrap, chroot). The first run makes the root (a few minutes).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
work=$repo/build-rehearsal
rm -rf "$work"
mkdir -p "$work"
git clone --quiet --no-hardlinks "$repo" "$work/byol"
echo "gpu-rehearsal: clean clone of $(git -C "$work/byol" rev-parse --short HEAD) in $work/byol"
(cd "$work/byol" && scripts/pack-gpu-deps.sh)
start=$(date +%s)
rc=0
# The check's timeouts are planned for 16 cores; scale them to this machine's.
scale=$(( (16 + $(nproc) - 1) / $(nproc) ))
(cd "$work/byol" && OUT="$work/byol/out" BYOL_GPU_CHECK_TIME_SCALE=$scale \
   scripts/debian-root.sh run bare -- scripts/gpu-check.sh) || rc=$?
mv "$work/byol/out" "$work/out"
echo "gpu-rehearsal: gpu-check.sh exited $rc after $(($(date +%s) - start)) s on $(nproc) cores"
files=$(find "$work/out" -type f | wc -l)
echo "gpu-rehearsal: $files files in $work/out (the device gives back at most 8)"
[ "$files" -le 8 ] || rc=1
grep -E "FAILED|TIMED OUT" "$work/out/summary.txt" && rc=1
exit $rc
