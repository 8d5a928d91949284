#!/usr/bin/env bash
# The GPU check: on a machine with a CUDA GPU and PyTorch's pip package but no internet, Catch2,
# Google Benchmark, TurboJPEG, libpng, CLI11 or PLplot, it builds byol against torch's own LibTorch
# and the libraries that scripts/pack-gpu-deps.sh packed into .carry/deps (fashion_mnist without
# its plot: -DBYOL_EXAMPLES_PLOT=OFF), runs the CUDA test cases,
# ResNet-50 BYOL beside PyTorch eager, the CUDA benchmarks beside their baselines, then the rest
# of the tests. Step 3's [cuda] cases include NCCL with one rank (SyncBatchNorm and DataParallel
# against plain BatchNorm), and step 5b runs imagenet_byol under torchrun with NCCL (issue 10,
# item 5). Without a GPU (the rehearsal, scripts/gpu-rehearsal.sh) it runs every step but
# the CUDA ones, which it reports as skipped; 5b then runs one Gloo rank through scripts/launch.sh.
#
#   here:            scripts/pack-gpu-deps.sh
#   on the GPU box:  scripts/gpu-check.sh           (the device tool: carry [".carry"])
#
# Planned time on 16 cores (an H200 machine), step by step. Each step runs under its own timeout,
# so that one stuck step cannot take the others' time. The compile figures are the CPU seconds
# that the rehearsal measured on LibTorch 2.6 (scripts/gpu-rehearsal.sh, docs/benchmarks.md),
# taken 1.3 times for PyTorch 2.11's heavier headers, over the build's critical path (a
# precompiled header, then the longest file); the GPU figures are estimates for an H200.
#
#   step                                               CPU s (2.6)  planned  timeout
#   0  probe: compilers, nvcc, CMake, ninja, torch                -       5 s     30 s
#   1  configure (Ninja; CUDA toolkit found)                      1      20 s     90 s
#   2  build byol_tests and imagenet_byol                       526     140 s    240 s
#      then the rest builds in the background (nice 19) while 3-6 run:  279 + 78 CPU s
#   3  CUDA test cases                                            1      30 s    120 s
#   4  bf16 matmul peak (MFU's denominator)                       1      10 s     60 s
#   5  ResNet-50 BYOL, byol: 30 steps, batch 256, bf16            -      45 s    150 s
#   5b the same under torchrun --nproc_per_node=1, NCCL: 10 steps    -      25 s     90 s
#   6  ResNet-50 BYOL, PyTorch eager, the same step              -      35 s    120 s
#   7a wait for the background build                             -      30 s    200 s
#   7b-d CUDA benchmarks, byol and the usual PyTorch code, table  -      75 s    210 s
#   8  every CTest test but the CUDA ones already run           193      70 s    150 s
#      total                                                            485 s (8.1 min)
#
# What comes back (at most 8 files, in $OUT when set, else build-gpu/out): summary.txt (the
# probe, each step's status and time, the key numbers), build.log, tests.log, imagenet.log,
# bench-cuda.json, python-cuda.jsonl, table-cuda.txt.
set -uo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
deps=$PWD/.carry/deps
out=${OUT:-build-gpu/out}
build=${BUILD_DIR:-build-gpu}
mkdir -p "$out"
summary=$out/summary.txt
: > "$summary"
say() { echo "$*" | tee -a "$summary"; }
elapsed() { echo $(($(date +%s) - start)); }

failures=0
# The timeouts are the GPU machine's (16 cores); the rehearsal on fewer cores scales them.
scale=${BYOL_GPU_CHECK_TIME_SCALE:-1}
# CPU seconds (user + system) of this shell's finished children so far, into CPU (`times` must
# run in this shell, not in a command substitution's).
times_file=$(mktemp)
trap 'rm -f "$times_file"' EXIT
cpu_seconds() {
  times > "$times_file"
  CPU=$(tail -1 "$times_file" | awk '{
    t = 0
    for (i = 1; i <= 2; i++) { split($i, a, "m"); sub("s", "", a[2]); t += a[1] * 60 + a[2] }
    printf "%.0f", t }')
}
# step NAME TIMEOUT LOG CMD...: runs CMD under `timeout`, appends its output to LOG, and records
# its status, wall time and CPU time in the summary.
step() {
  local name=$1 limit=$(($2 * scale)) log=$3
  shift 3
  local t0 c0 rc
  t0=$(date +%s)
  cpu_seconds
  c0=$CPU
  say "== [$(elapsed) s] $name (timeout ${limit} s)"
  echo "==== $name" >> "$log"
  timeout --kill-after=10 "$limit" "$@" >> "$log" 2>&1
  rc=$?
  cpu_seconds
  local took=$(($(date +%s) - t0)) cpu=$((CPU - c0))
  case $rc in
    0) say "   ok in $took s ($cpu CPU s)" ;;
    124|137) say "   TIMED OUT after $took s ($cpu CPU s)"; failures=$((failures + 1)) ;;
    *) say "   FAILED (exit $rc) in $took s ($cpu CPU s)"; failures=$((failures + 1)) ;;
  esac
  return $rc
}
skip() { say "== [$(elapsed) s] $1: skipped ($2)"; }

if [ ! -d "$deps" ]; then
  echo "no $deps: run scripts/pack-gpu-deps.sh on the build machine and carry .carry" >&2
  exit 1
fi
grep -rl '@CARRY@' "$deps" 2>/dev/null | xargs -r sed -i "s#@CARRY@#$deps#g"
# Appended, so that the machine's own libraries keep precedence where it has them.
export LD_LIBRARY_PATH=${LD_LIBRARY_PATH:+$LD_LIBRARY_PATH:}$deps/lib/x86_64-linux-gnu:$deps/lib
export PKG_CONFIG_PATH=$deps/lib/x86_64-linux-gnu/pkgconfig:$deps/share/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}
python=${PYTHON:-python3}
jobs=$(nproc)

# ---- 0. probe ------------------------------------------------------------------------------
probe() {
  echo "date: $(date -u)"
  echo "cores: $jobs; memory: $(free -g 2>/dev/null | awk '/Mem:/ {print $2 " GiB"}')"
  echo "glibc: $(ldd --version 2>&1 | head -1)"
  echo "c++: $(c++ --version 2>&1 | head -1) ($(command -v c++))"
  echo "cmake: $(cmake --version 2>&1 | head -1)"
  echo "ninja: $(ninja --version 2>&1 || echo 'not found')"
  echo "gpu: $(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1 | head -2)"
  $python - <<'EOF'
import torch, sys
print("python:", sys.version.split()[0])
print("torch:", torch.__version__, "cuda:", torch.version.cuda, "cxx11 abi:", torch._C._GLIBCXX_USE_CXX11_ABI)
print("cuda available:", torch.cuda.is_available(), "devices:", torch.cuda.device_count())
print("cmake prefix:", torch.utils.cmake_prefix_path)
try:
    import torchvision
    print("torchvision:", torchvision.__version__)
except Exception as e:
    print("torchvision: not importable (" + type(e).__name__ + ")")
EOF
}
# nvcc: on PATH, else CUDA_HOME, else /usr/local/cuda*, else the pip wheels' (nvidia/cu*/bin).
find_nvcc() {
  local c
  for c in "$(command -v nvcc 2>/dev/null)" "${CUDA_HOME:-/nonexistent}/bin/nvcc" /usr/local/cuda/bin/nvcc \
           /usr/local/cuda-*/bin/nvcc; do
    [ -n "$c" ] && [ -x "$c" ] && { echo "$c"; return; }
  done
  $python - <<'EOF' 2>/dev/null
import glob, os, site
for d in site.getsitepackages():
    for c in sorted(glob.glob(os.path.join(d, "nvidia", "*", "bin", "nvcc"))) + \
             sorted(glob.glob(os.path.join(d, "nvidia", "cuda_nvcc", "bin", "nvcc"))):
        print(c); raise SystemExit
EOF
}
say "byol GPU check, $(git rev-parse --short HEAD 2>/dev/null || echo 'no git') ($(date -u +%F))"
probe 2>&1 | tee -a "$summary"
gpu=0
$python -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null && gpu=1
nvcc=""
if [ $gpu = 1 ]; then
  nvcc=$(find_nvcc)
  say "nvcc: ${nvcc:-not found} $( [ -n "$nvcc" ] && "$nvcc" --version | tail -1)"
  if [ -n "$nvcc" ]; then
    export PATH=$(dirname "$nvcc"):$PATH CUDACXX=$nvcc
    export CUDA_HOME=${CUDA_HOME:-$(dirname "$(dirname "$nvcc")")}
  fi
  cc=$($python -c 'import torch; p = torch.cuda.get_device_capability(); print(f"{p[0]}.{p[1]}")')
  export TORCH_CUDA_ARCH_LIST=$cc
  say "TORCH_CUDA_ARCH_LIST=$TORCH_CUDA_ARCH_LIST"
else
  say "no CUDA device: the CUDA steps are skipped (a rehearsal)"
fi
torch_prefix=$($python -c 'import torch; print(torch.utils.cmake_prefix_path)')

# ---- 1. configure --------------------------------------------------------------------------
cuda_args=()
if [ $gpu = 1 ]; then
  arch=${TORCH_CUDA_ARCH_LIST/./}
  cuda_args=(-DCMAKE_CUDA_ARCHITECTURES="$arch")
  [ -n "$nvcc" ] && cuda_args+=(-DCMAKE_CUDA_COMPILER="$nvcc")
fi
step "1 configure" 90 "$out/build.log" \
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DBYOL_REQUIRE_DATA=ON -DBYOL_REQUIRE_TESTS=ON \
    -DBYOL_EXAMPLES_PLOT=OFF \
    -DCMAKE_PREFIX_PATH="$torch_prefix;$deps" "${cuda_args[@]}" || {
  tail -40 "$out/build.log"; say "configure failed: nothing else can run"; exit 1; }

# ---- 2. the binaries the first steps need ----------------------------------------------------
step "2 build byol_tests and imagenet_byol" 240 "$out/build.log" \
  ninja -C "$build" -k 0 -j "$jobs" byol_tests imagenet_byol
grep -E "error|FAILED" "$out/build.log" | head -40 | tee -a "$summary"

# Without a GPU (the rehearsal) the same commands run, small and on the CPU, so that a device run
# can fail only on what needs the device: the CUDA cases then warn and return.
if [ $gpu = 1 ]; then dev=cuda; else dev=cpu; fi

# Everything else builds in the background, at the lowest priority, while the GPU steps run (they
# need a core or two to launch kernels); step 7 waits for it.
rest_log=$(mktemp)
nice -n 19 ninja -C "$build" -k 0 -j "$jobs" > "$rest_log" 2>&1 &
rest_pid=$!
say "   the rest of the build runs in the background (pid $rest_pid)"

# ---- 3. CUDA test cases --------------------------------------------------------------------
tests=$build/tests/byol_tests
note=""
[ $gpu = 1 ] || note=" (no GPU: each warns and returns)"
step "3 CUDA test cases$note" 120 "$out/tests.log" \
  "$tests" "[cuda],*CUDA*" --rng-seed 20200613
grep -E "^(All tests passed|test cases:)" "$out/tests.log" | tail -1 | tee -a "$summary"

# ---- 4-6. ResNet-50 BYOL: byol beside PyTorch eager ---------------------------------------
step "4 bf16 matmul peak ($dev)" 60 "$out/imagenet.log" $python - "$dev" <<'EOF_PY'
import sys, time, torch
dev = sys.argv[1]
n = 8192 if dev == "cuda" else 512
reps = 50 if dev == "cuda" else 2
a = torch.randn(n, n, device=dev, dtype=torch.bfloat16)
b = torch.randn(n, n, device=dev, dtype=torch.bfloat16)
sync = torch.cuda.synchronize if dev == "cuda" else (lambda: None)
for _ in range(3): a @ b
sync()
t0 = time.perf_counter()
for _ in range(reps): a @ b
sync()
print(f"bf16 matmul peak: {2 * n**3 * reps / (time.perf_counter() - t0) / 1e12:.3f} TFLOP/s on {dev}")
EOF_PY
peak=$(grep -oE 'bf16 matmul peak: [0-9.]+' "$out/imagenet.log" | tail -1 | grep -oE '[0-9.]+$' || true)
say "   measured bf16 matmul peak: ${peak:-?} TFLOP/s"
if [ $gpu = 1 ]; then
  imagenet_args=(--steps 30 --batch-size 256 --peak-tflops "${peak:-790}")
else
  imagenet_args=(--device cpu --arch resnet18 --image-size 64 --steps 2 --batch-size 8 --workers 1)
fi
step "5 ResNet BYOL, byol: ${imagenet_args[*]}" 150 "$out/imagenet.log" \
  "$build/examples/imagenet_byol" --synthetic --accum-steps 1 --log-every 10 --checkpoint-every 1000000 \
    --out "$build/imagenet_run" "${imagenet_args[@]}"
grep -E "images/s|MFU" "$out/imagenet.log" | tail -3 | tee -a "$summary"
# One rank of a data-parallel run: torchrun's variables, SyncBatchNorm and DataParallel's buckets
# through NCCL. Debian 13's torchrun cannot start (docs/distributed.md), so the rehearsal sets the
# same variables with scripts/launch.sh and asks for Gloo, which its root lacks (no libgloo-dev):
# there the rank warns and runs as a plain process.
if [ $gpu = 1 ]; then
  launcher=($python -m torch.distributed.run --standalone --nproc_per_node=1 --no-python)
  ranked_args=(--dist-backend nccl --steps 10 --batch-size 128)
else
  launcher=(scripts/launch.sh -n 1 --)
  ranked_args=(--dist-backend gloo "${imagenet_args[@]}")
fi
step "5b one rank under ${launcher[0]##*/}: ${ranked_args[*]}" 90 "$out/imagenet.log" \
  "${launcher[@]}" "$build/examples/imagenet_byol" --synthetic --accum-steps 1 --log-every 5 \
    --checkpoint-every 1000000 --out "$build/imagenet_ranked" "${ranked_args[@]}"
grep -E "BatchNorm layers synchronized|not compiled in|img/s|images/s" "$out/imagenet.log" | tail -3 |
  tee -a "$summary"
# Without NCCL compiled in, one rank would run as a plain process (with a warning): not the check.
if [ $gpu = 1 ] && ! grep -q "1 rank (nccl): " "$out/imagenet.log"; then
  say "   5b FAILED: imagenet_byol's one rank did not run through NCCL (see imagenet.log)"
  failures=$((failures + 1))
fi
step "6 BYOL step, PyTorch eager ($dev)" 120 "$out/python-cuda.jsonl" \
  $python bench/python/byol_step.py --device "$dev" --min-time "$([ $gpu = 1 ] && echo 3 || echo 0.2)"
grep -E '^\{' "$out/python-cuda.jsonl" | tail -2 | tee -a "$summary"

# ---- 7. the background build, then the CUDA benchmarks beside their baselines ---------------
step "7a wait for the background build" 200 "$out/build.log" tail --pid="$rest_pid" -f /dev/null
if kill -0 "$rest_pid" 2> /dev/null; then
  kill -- "$rest_pid" 2> /dev/null
fi
wait "$rest_pid"
rest_rc=$?
{ echo "==== the background build (exit $rest_rc)"; cat "$rest_log"; } >> "$out/build.log"
rm -f "$rest_log"
if [ $rest_rc -ne 0 ]; then
  say "   the background build FAILED (exit $rest_rc):"
  grep -E "error|FAILED" "$out/build.log" | sort -u | head -40 | tee -a "$summary"
  failures=$((failures + 1))
fi
if [ $gpu = 1 ]; then
  filter=CUDA min_time=0.2
else
  filter='^BM_Ema/byol/|^BM_Lars/byol/' min_time=0.01
fi
step "7b benchmarks, byol ($dev)" 90 "$out/tests.log" \
  "$build/bench/byol_bench" --benchmark_filter="$filter" --benchmark_min_time=$min_time \
    --benchmark_out="$out/bench-cuda.json" --benchmark_out_format=json
step "7c benchmarks, the usual PyTorch code ($dev)" 90 "$out/python-cuda.jsonl" \
  $python bench/python/bench_kernels.py --device "$dev" --min-time $min_time \
    $([ $gpu = 1 ] || echo "--filter BM_Ema")
step "7d the table" 30 "$out/table-cuda.txt" \
  $python bench/compare.py --cpp "$out/bench-cuda.json" --python "$out/python-cuda.jsonl"
cat "$out/table-cuda.txt" >> "$summary"

# ---- 8. the rest ---------------------------------------------------------------------------
exclude=""
[ $gpu = 1 ] && exclude="unit.cuda"   # its cases ran in step 3
step "8 CTest (every test${exclude:+ but $exclude})" 150 "$out/tests.log" \
  ctest --test-dir "$build" -j "$jobs" --output-on-failure --timeout 140 ${exclude:+-E "^$exclude\$"}
grep -E "tests passed|tests failed|\*\*\*|Not Run" "$out/tests.log" | tail -12 | tee -a "$summary"

say "== [$(elapsed) s] done: $failures step(s) failed; files: $(ls "$out" | tr '\n' ' ')"
[ "$(ls "$out" | wc -l)" -le 8 ] || say "WARNING: more than 8 files in $out"
[ $failures -eq 0 ]
