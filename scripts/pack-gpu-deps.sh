#!/usr/bin/env bash
# Packs what the GPU machine lacks (Catch2, Google Benchmark, TurboJPEG, libpng, zlib headers,
# libraries and CMake package files, from this machine's Debian packages) into .carry/deps, an
# ignored folder that the device tool carries along (carry: [".carry"]). Absolute /usr paths in
# the CMake files become @CARRY@, which scripts/gpu-check.sh replaces with the folder's real path.
#
#   scripts/pack-gpu-deps.sh
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
packages=(catch2 libbenchmark-dev libbenchmark1debian libturbojpeg0-dev libturbojpeg0 libjpeg62-turbo-dev
          libjpeg62-turbo libpng-dev libpng16-16 zlib1g-dev)
dest=.carry/deps
rm -rf "$dest"
mkdir -p "$dest"
for p in "${packages[@]}"; do
  dpkg -L "$p" | while read -r f; do
    case "$f" in
      /usr/include/*|/usr/lib/*|/lib/x86_64-linux-gnu/*)
        if [ -f "$f" ] || [ -L "$f" ]; then
          rel=${f#/usr/}
          rel=${rel#/}
          mkdir -p "$dest/$(dirname "$rel")"
          cp -P "$f" "$dest/$rel"
        fi
        ;;
    esac
  done
done
# Absolute paths in CMake package files point at /usr on this machine.
grep -rl '/usr/' "$dest" --include='*.cmake' | while read -r f; do
  sed -i 's#/usr/#@CARRY@/#g' "$f"
done
du -sh "$dest"
