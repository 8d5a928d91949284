#!/usr/bin/env bash
# The GPU check, on a machine with a CUDA GPU and PyTorch's pip package but no internet, Catch2,
# Google Benchmark or TurboJPEG: configures against torch's CMake prefix and the libraries that
# scripts/pack-gpu-deps.sh packed into .carry/deps, builds, runs the tests (CUDA cases included)
# and the benchmarks on both sides (C++ and Python), then 100 steps of ResNet-50 BYOL at device
# batch 256 on synthetic data, printing images/s and MFU. Meant to fit in 8 minutes on an H100
# machine with 16 cores.
#
#   here:            scripts/pack-gpu-deps.sh
#   on the GPU box:  scripts/gpu-check.sh            (the device tool: carry [".carry"])
#
# Logs go to $OUT (the device tool's output folder) when set, else build-gpu/logs.
set -uo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
deps=$PWD/.carry/deps
logs=${OUT:-build-gpu/logs}
mkdir -p "$logs"
stamp() { echo "== $(($(date +%s) - start)) s: $*"; }
if [ ! -d "$deps" ]; then
  echo "no $deps: run scripts/pack-gpu-deps.sh on the build machine and carry .carry" >&2
  exit 1
fi
grep -rl '@CARRY@' "$deps" 2>/dev/null | xargs -r sed -i "s#@CARRY@#$deps#g"
export LD_LIBRARY_PATH=$deps/lib/x86_64-linux-gnu:$deps/lib:${LD_LIBRARY_PATH:-}
python=${PYTHON:-python3}
torch_prefix=$($python -c 'import torch; print(torch.utils.cmake_prefix_path)')
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$logs/gpu.txt"
$python -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)' | tee -a "$logs/gpu.txt"

stamp "configure"
generator=()
command -v ninja > /dev/null && generator=(-G Ninja)
cmake -S . -B build-gpu "${generator[@]}" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$torch_prefix;$deps" -DCMAKE_CUDA_ARCHITECTURES=90 > "$logs/configure.log" 2>&1 \
  || { tail -40 "$logs/configure.log"; exit 1; }
stamp "build"
cmake --build build-gpu -j "$(nproc)" > "$logs/build.log" 2>&1 || { grep -E "error" -A3 "$logs/build.log" | head -60; exit 1; }

status=0
stamp "tests"
(cd build-gpu && ctest -j 8 --output-on-failure --timeout 600 > "$logs/ctest.log" 2>&1) || status=1
tail -30 "$logs/ctest.log"
stamp "CUDA test cases"
build-gpu/tests/byol_tests "[cuda],[augment]" --success 2>&1 | tail -5 | tee "$logs/cuda-tests.log"

stamp "benchmarks: C++"
build-gpu/bench/byol_bench --benchmark_filter='CUDA' --benchmark_min_time=0.3 \
  --benchmark_out="$logs/bench-cuda.json" --benchmark_out_format=json 2>&1 | grep -E "^BM_|Run on" | tee "$logs/bench-cuda.txt"
stamp "benchmarks: Python (the usual PyTorch code on the same GPU)"
{
  $python bench/python/bench_kernels.py --device cuda --min-time 0.3
  $python bench/python/byol_step.py --device cuda --min-time 5
} 2>&1 | tee "$logs/python-cuda.jsonl"
$python bench/compare.py --cpp "$logs/bench-cuda.json" --python "$logs/python-cuda.jsonl" 2>&1 | tee "$logs/table-cuda.txt"

stamp "ResNet-50 BYOL, 100 steps, device batch 256, synthetic"
build-gpu/examples/imagenet_byol --synthetic --steps 100 --batch-size 256 --accum-steps 1 --log-every 10 \
  --out build-gpu/imagenet_run 2>&1 | tee "$logs/imagenet.log" | tail -14
stamp "done (status $status)"
exit $status
