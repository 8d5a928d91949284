#!/usr/bin/env bash
# A Debian 13 ("trixie") root for byol's second lanes, made with debootstrap and reused while
# its package list is unchanged; and a way to run a command inside it.
#
#   scripts/debian-root.sh path VARIANT            # makes the root if needed, prints its path
#   scripts/debian-root.sh run  VARIANT -- CMD...  # runs CMD in it, in the current folder
#
# VARIANT is one of:
#   lts2x     LibTorch 2.6 (CPU) with Gloo's headers, g++ 14, CMake 3.31, Catch2 3, Google Benchmark 1.9, CLI11,
#             PLplot, Python's torch 2.6 and torchvision 0.21: the LibTorch 2.x test lane (scripts/test.sh)
#   bare      LibTorch 2.6 and Python's torch, CMake, ninja and g++ only: the stand-in for the GPU
#             machine in the GPU check's rehearsal (scripts/gpu-rehearsal.sh)
#   cuda      LibTorch 2.6 built for CUDA with CUDA 12.4's headers (contrib, non-free), and CLI11: compiles
#             the CUDA paths, links nothing (scripts/cuda-compile-check.sh)
#
# Roots live in $BYOL_ROOTS (default /var/cache/byol/roots), outside any clone, so CI on a machine
# that already made one reuses it; each is named after a hash of its package list and finished
# roots carry a stamp, so a changed list or an interrupted debootstrap makes a new one. Downloads
# are shared between roots (the .debs in $BYOL_ROOTS/apt-archives). `run` works in a private
# mount namespace: /proc, /dev, /sys and the repository (at the same path as outside) are bound
# in it and go away with the command, whatever way it ends. Needs root.
set -euo pipefail

usage() { sed -n '2,22p' "$0" >&2; exit 2; }
[ $# -ge 2 ] || usage
action=$1 variant=$2
shift 2

common=(ca-certificates g++ cmake make ninja-build ccache pkgconf)
case "$variant" in
  lts2x) packages=("${common[@]}" libtorch-dev libopenblas0-pthread libgloo-dev catch2 libbenchmark-dev
                   libturbojpeg0-dev libpng-dev zlib1g-dev dataset-fashion-mnist
                   libcli11-dev libplplot-dev plplot-driver-cairo python3-torch python3-torchvision) ;;
  bare)  packages=(ca-certificates g++ cmake ninja-build libtorch-dev libopenblas0-pthread python3-torch) ;;
  cuda)  packages=(ca-certificates g++ libtorch-cuda-dev nvidia-cuda-dev catch2 libbenchmark-dev
                   libturbojpeg0-dev libpng-dev zlib1g-dev libcli11-dev) ;;
  *) echo "debian-root.sh: unknown VARIANT '$variant' (lts2x, bare or cuda)" >&2; exit 2 ;;
esac
suite=trixie
components=main,contrib,non-free

if [ "$(id -u)" -ne 0 ]; then
  echo "debian-root.sh: needs root (debootstrap, chroot and mount)" >&2
  exit 1
fi

roots=${BYOL_ROOTS:-/var/cache/byol/roots}
version=1  # bump when the way a root is made changes
key=$(printf '%s\n' "$version" "$suite" "$components" "${packages[@]}" | sha256sum | cut -c1-12)
root=$roots/$suite-$variant-$key
archives=$roots/apt-archives

# The Debian mirror this machine's apt already uses (so the script names none).
mirror() {
  local uri
  uri=$(grep -hsE '^(URIs:|deb )' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null |
        grep -oE 'https?://[^ ]+/debian/?' | grep -v security | head -1)
  if [ -z "$uri" ]; then
    echo "debian-root.sh: no Debian mirror found in /etc/apt/sources.list*; set BYOL_DEBIAN_MIRROR" >&2
    exit 1
  fi
  echo "${uri%/}"
}

# Runs "$@" with the root's mounts in a private mount namespace.
in_root() {
  local here=$PWD
  local repo
  repo=$(cd "$(dirname "$0")/.." && pwd)
  unshare --mount --propagation private -- bash -euo pipefail -c '
    root=$1 repo=$2 archives=$3 here=$4; shift 4
    mount -t proc proc "$root/proc"
    mount --rbind /dev "$root/dev"
    mount --rbind /sys "$root/sys"
    mkdir -p "$root$repo" "$root/var/cache/apt/archives" "$archives"
    mount --bind "$repo" "$root$repo"
    mount --bind "$archives" "$root/var/cache/apt/archives"
    cp -L /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
    # A clean environment, but for the variables that byol'"'"'s scripts and tests read.
    vars=(HOME=/root TERM="${TERM:-dumb}" LANG=C.UTF-8 CCACHE_DIR=/var/cache/ccache
          PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin)
    for v in CI OMP_NUM_THREADS JOBS CCACHE_DISABLE OUT BUILD_DIR BYOL_GPU_CHECK_TIME_SCALE; do
      [ -n "${!v:-}" ] && vars+=("$v=${!v}")
    done
    exec chroot "$root" /usr/bin/env -i "${vars[@]}" \
      bash -c "cd \"$here\" 2>/dev/null || cd \"$repo\"; exec \"\$@\"" bash "$@"
  ' bash "$root" "$repo" "$archives" "$here" "$@"
}

make_root() {
  [ -f "$root/.byol-root-complete" ] && return 0
  command -v debootstrap > /dev/null || {
    echo "debian-root.sh: installing debootstrap" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap > /dev/null
  }
  local url start
  url=${BYOL_DEBIAN_MIRROR:-$(mirror)}
  start=$(date +%s)
  echo "debian-root.sh: making $root ($suite, ${#packages[@]} packages; a few minutes, once)" >&2
  rm -rf "$root"
  mkdir -p "$root" "$archives"
  debootstrap --variant=minbase --components="$components" --cache-dir="$archives" \
    "$suite" "$root" "$url" > "$roots/debootstrap-$variant.log" 2>&1 || {
    tail -20 "$roots/debootstrap-$variant.log" >&2
    echo "debian-root.sh: debootstrap failed (log: $roots/debootstrap-$variant.log)" >&2
    exit 1
  }
  printf 'deb %s %s %s\n' "$url" "$suite" "${components//,/ }" > "$root/etc/apt/sources.list"
  # Keep the downloaded .debs in the shared cache.
  echo 'Binary::apt::APT::Keep-Downloaded-Packages "true";' > "$root/etc/apt/apt.conf.d/99keep"
  echo 'APT::Install-Recommends "false";' > "$root/etc/apt/apt.conf.d/99norecommends"
  if [ "$variant" = cuda ]; then
    # libtorch-cuda-2.6 depends on nvidia-cudnn, an installer that downloads cuDNN from NVIDIA at
    # install time, which this machine cannot reach. A stub package stands in for it: cuDNN's
    # headers and libraries are then absent, which a compile-only check of byol (which includes
    # none of them) does not need.
    mkdir -p "$root/tmp/cudnn-stub/DEBIAN"
    printf '%s\n' 'Package: nvidia-cudnn' 'Version: 9.0.0.312~byol1' 'Architecture: amd64' \
      'Maintainer: byol <byol@localhost>' 'Description: stand-in for the cuDNN downloader (compile-only root)' \
      > "$root/tmp/cudnn-stub/DEBIAN/control"
    in_root bash -c 'dpkg-deb --build /tmp/cudnn-stub /tmp/nvidia-cudnn-stub.deb > /dev/null &&
                     dpkg -i /tmp/nvidia-cudnn-stub.deb > /dev/null'
  fi
  in_root env DEBIAN_FRONTEND=noninteractive bash -c \
    'apt-get update -qq && apt-get install -y -qq "$@" > /var/log/byol-install.log 2>&1 ||
     { tail -30 /var/log/byol-install.log; exit 1; }' bash "${packages[@]}"
  touch "$root/.byol-root-complete"
  echo "debian-root.sh: $root made in $(($(date +%s) - start)) s ($(du -sh "$root" | cut -f1))" >&2
}

case "$action" in
  path) make_root; echo "$root" ;;
  run)
    [ "${1:-}" = "--" ] && shift
    [ $# -ge 1 ] || usage
    make_root
    in_root "$@"
    ;;
  *) usage ;;
esac
