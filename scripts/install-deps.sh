#!/usr/bin/env bash
# Installs the Debian 12 packages byol's build, tests, examples and benchmarks need, when they
# are missing. Safe to run again: it installs nothing when all are present.
set -euo pipefail

packages=(
  g++ cmake make ccache          # toolchain
  libtorch-dev                   # LibTorch 1.13 (CPU)
  libgloo-dev                    # Gloo's headers, which c10d's ProcessGroupGloo.hpp includes (byol/distributed.hpp)
  libopenblas0-pthread           # without it LibTorch falls back to the reference BLAS (30x slower)
  catch2                         # tests
  libbenchmark-dev               # bench/
  libturbojpeg0-dev libpng-dev zlib1g-dev   # image decoding (byol::data)
  dataset-fashion-mnist          # the demo's data, in /usr/share/datasets/fashion-mnist
  libcli11-dev                   # the examples' flags (CLI11, header-only)
  libplplot-dev plplot-driver-cairo   # fashion_mnist's plot.png (PLplot; its pngcairo device at run time)
  python3-torchvision            # tests: Python's torch.load reads our export; bench/python baselines
  debootstrap                    # the LibTorch 2.x test lane's Debian 13 root (scripts/debian-root.sh)
  clang-14 libclang-rt-14-dev libomp-14-dev   # the sanitize lane: ASan/UBSan runtimes, libFuzzer, clang's OpenMP
)
packages+=("$@")                 # callers may ask for more (bench/run.sh: libtcmalloc-minimal4)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
sudo=()
if [ "$(id -u)" -ne 0 ]; then
  sudo=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
