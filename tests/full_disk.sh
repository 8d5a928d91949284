#!/usr/bin/env bash
# A checkpoint save on a full disk: runs the hidden test case "[full_disk]" of byol_tests with
# BYOL_FULL_DISK_DIR on a fresh 1 MiB tmpfs, mounted in a private mount namespace (unshare), so
# nothing outside this command sees it and it vanishes with it.
#
#   tests/full_disk.sh <byol_tests> [<catch2 arguments>...]
#
# Mounting needs root (CI runs as root) or unprivileged user namespaces. Where neither works it
# prints "cannot mount a tmpfs here" and exits 0: the CTest entry (unit.checkpoint_full_disk,
# through tests/cmake/run_checked.cmake) then reports it as skipped. A failing test exits nonzero.
set -euo pipefail
[ $# -ge 1 ] || { sed -n '2,10p' "$0" >&2; exit 2; }
tests=$1
shift
dir=$(mktemp -d "${TMPDIR:-/tmp}/byol_full_disk_XXXXXX")
trap 'rmdir "$dir"' EXIT
# shellcheck disable=SC2016  # expanded by the inner shell
inner='mount -t tmpfs -o size=1m,mode=0700 byol-full-disk "$1" && shift && "$@"'
candidates=("unshare --mount --propagation private" "unshare --map-root-user --mount --propagation private")
# Inside a chroot (the 2.x lane's Debian 13 root) "/" is no mount point and its propagation cannot
# be changed; a new namespace may keep it unchanged when no visible mount is shared, since only a
# shared mount would carry the tmpfs back out to the parent namespace.
if ! grep -q ' shared:' /proc/self/mountinfo 2>/dev/null; then
  candidates+=("unshare --mount --propagation unchanged")
fi
for unshare in "${candidates[@]}"; do
  if $unshare sh -c "$inner" sh "$dir" true 2>/dev/null; then
    echo "full_disk.sh: a 1 MiB tmpfs at $dir ($unshare)"
    BYOL_FULL_DISK_DIR=$dir $unshare sh -c "$inner" sh "$dir" "$tests" "[full_disk]" "$@"
    exit
  fi
done
echo "full_disk.sh: cannot mount a tmpfs here (unshare --mount and mount -t tmpfs are not allowed): not run"
