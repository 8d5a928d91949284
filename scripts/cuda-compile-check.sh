#!/usr/bin/env bash
# Compiles byol's CUDA paths against LibTorch 2.x's CUDA build before any GPU is lent: Debian
# 13's libtorch-cuda-dev 2.6 (contrib) with nvidia-cuda-dev 12.4 (non-free), in the `cuda` root
# of scripts/debian-root.sh. Compiled only (g++ -fsyntax-only, with -Wall -Wextra -Werror as
# byol's own build), not linked or run: tests/test_cuda.cpp, examples/imagenet_byol.cpp, the
# benchmarks (their CUDA cases) and every public header on its own.
#
# Why not CMake: torch's CMake package for a CUDA build looks for the CUDA compiler (nvcc), which
# Debian ships in nvidia-cuda-toolkit (several GB more) and which nothing here would use; byol's
# code is C++ over ATen, so the check compiles each file with the flags that torch's package
# gives its users (the headers' folders and _GLIBCXX_USE_CXX11_ABI) instead.
#
#   scripts/cuda-compile-check.sh     # the first run makes the root (downloads about 4 GB)
#
# Run it before every change to a CUDA path (README, Compatibility); it takes about 3 minutes on
# 2 cores once the root exists (making the root: about 7 minutes and 7 GB, which keeps it out of CI).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" != "--inside" ]; then
  exec scripts/debian-root.sh run cuda -- scripts/cuda-compile-check.sh --inside
fi

start=$(date +%s)
echo "cuda-compile-check: $(g++ --version | head -1); LibTorch $(sed -n 's/.*TORCH_VERSION "\(.*\)".*/\1/p' /usr/include/torch/csrc/api/include/torch/version.h 2>/dev/null || true)"
for h in c10/cuda/CUDAStream.h ATen/cuda/CUDAContext.h cuda_runtime_api.h; do
  [ -n "$(find /usr/include -path "*/$h" -print -quit)" ] || { echo "cuda-compile-check: $h is missing: not a CUDA LibTorch" >&2; exit 1; }
done
catch_major=$(sed -n 's/.*CATCH_VERSION_MAJOR \([0-9]*\).*/\1/p' /usr/include/catch2/catch_version_macros.hpp 2>/dev/null || true)
catch_major=${catch_major:-2}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
flags=(-std=c++17 -fsyntax-only -fopenmp -O2 -Wall -Wextra -Werror -D_GLIBCXX_USE_CXX11_ABI=1
       -DBYOL_CATCH_MAJOR="$catch_major" -Iinclude -Itests -Iexamples
       -isystem /usr/include/torch/csrc/api/include)

units=(tests/test_cuda.cpp examples/imagenet_byol.cpp bench/bench_kernels.cpp bench/bench_step.cpp
       bench/bench_augment.cpp)
# A file that includes torch's CUDA headers themselves, as a user's CUDA code would beside byol.
cat > "$work/with_cuda_headers.cpp" <<'EOF'
#include <byol/byol.hpp>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
int main() {
  c10::cuda::CUDAStream stream = c10::cuda::getCurrentCUDAStream();
  (void)stream;
  return 0;
}
EOF
units+=("$work/with_cuda_headers.cpp")
while read -r header; do
  id=${header//[\/.]/_}
  printf '#include <%s>\n#include <%s>\n' "$header" "$header" > "$work/$id.cpp"
  units+=("$work/$id.cpp")
done < <(cd include && find byol -name '*.hpp' | sort)

failed=0
pids=()
jobs=${JOBS:-$(nproc)}
compile() {
  local unit=$1 log=$work/$(basename "$1").log
  if g++ "${flags[@]}" "$unit" > "$log" 2>&1; then
    echo "ok      $unit"
  else
    echo "FAILED  $unit"
    head -30 "$log"
    return 1
  fi
}
for unit in "${units[@]}"; do
  compile "$unit" &
  pids+=($!)
  if [ ${#pids[@]} -ge "$jobs" ]; then
    wait "${pids[0]}" || failed=$((failed + 1))
    pids=("${pids[@]:1}")
  fi
done
for pid in "${pids[@]}"; do
  wait "$pid" || failed=$((failed + 1))
done
echo "cuda-compile-check: ${#units[@]} files, $failed failed, $(($(date +%s) - start)) s"
[ $failed -eq 0 ]
