#!/usr/bin/env bash
# Packs what the GPU machine lacks into .carry/deps, an ignored folder that the device tool
# carries along (carry: [".carry"]): Catch2, Google Benchmark, TurboJPEG, libpng, zlib and CLI11
# (the examples' flags; header-only), with their headers, libraries, CMake package files and
# pkg-config files, from this machine's Debian 12 packages. PLplot (fashion_mnist's plot) is not
# packed: its drivers load at run time, with cairo, pango and fontconfig behind them;
# gpu-check.sh configures with -DBYOL_EXAMPLES_PLOT=OFF instead. Absolute /usr paths in the CMake and pkg-config files become @CARRY@, which
# scripts/gpu-check.sh replaces with the folder's real path there.
#
# Symbolic links are packed as relative links to a packed file (an absolute link would dangle on
# the other machine); the pack is refused if any link dangles. zlib's run-time name (libz.so.1)
# is left out on purpose: every machine has its own, and the carried folder is on
# LD_LIBRARY_PATH, where an older copy would replace the system's for every program.
#
#   scripts/pack-gpu-deps.sh
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
packages=(catch2 libbenchmark-dev libbenchmark1debian libturbojpeg0-dev libturbojpeg0 libjpeg62-turbo-dev
          libjpeg62-turbo libpng-dev libpng16-16 zlib1g-dev zlib1g libcli11-dev)
dest=.carry/deps
rm -rf "$dest"
mkdir -p "$dest"
for p in "${packages[@]}"; do
  dpkg -L "$p" | while read -r f; do
    case "$f" in
      /usr/include/*|/usr/lib/*|/lib/x86_64-linux-gnu/*|/usr/share/cmake/*) ;;
      *) continue ;;
    esac
    [ -f "$f" ] || [ -L "$f" ] || continue
    rel=${f#/usr/}
    rel=${rel#/}
    case "$rel" in
      lib/x86_64-linux-gnu/libz.so.1) continue ;;   # see above
    esac
    mkdir -p "$dest/$(dirname "$rel")"
    if [ -L "$f" ]; then
      target=$(readlink -f "$f")
      if [ "$(dirname "$target")" = "$(readlink -f "$(dirname "$f")")" ]; then
        ln -sfn "$(basename "$target")" "$dest/$rel"   # the same folder: a relative link
      else
        cp -L "$f" "$dest/$rel"                        # elsewhere: the file itself
      fi
    else
      cp "$f" "$dest/$rel"
    fi
  done
done
# zlib's file behind libz.so, which the loop above reached through the link only.
zlib=$(readlink -f /usr/lib/x86_64-linux-gnu/libz.so)
cp -n "$zlib" "$dest/lib/x86_64-linux-gnu/" 2>/dev/null || true

dangling=$(find "$dest" -xtype l)
if [ -n "$dangling" ]; then
  echo "pack-gpu-deps.sh: dangling links in the pack:" >&2
  echo "$dangling" >&2
  exit 1
fi
for must in include/catch2/catch.hpp include/benchmark/benchmark.h include/turbojpeg.h include/png.h include/zlib.h \
            include/CLI/CLI.hpp share/cmake/CLI11/CLI11Config.cmake \
            lib/x86_64-linux-gnu/libturbojpeg.so lib/x86_64-linux-gnu/libpng.so lib/x86_64-linux-gnu/libz.so \
            lib/x86_64-linux-gnu/libbenchmark.so; do
  [ -e "$dest/$must" ] || { echo "pack-gpu-deps.sh: $must is missing from the pack" >&2; exit 1; }
done
# Absolute paths in CMake package files and pkg-config files point at /usr on this machine.
grep -rlE '/usr(/|$)' "$dest" --include='*.cmake' --include='*.pc' | while read -r f; do
  sed -i -E 's#/usr/#@CARRY@/#g; s#=/usr$#=@CARRY@#' "$f"
done
echo "pack-gpu-deps.sh: $(du -sh "$dest" | cut -f1) in $dest ($(find "$dest" -type f | wc -l) files)"
