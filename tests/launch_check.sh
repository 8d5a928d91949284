#!/usr/bin/env bash
# scripts/launch.sh with 2 processes of the distributed worker (the hidden case of
# tests/test_distributed.cpp):
#   1. BYOL_DIST_MODE=hello: both ranks form a Gloo group from the launcher's variables and
#      allreduce rank + 1 (sum 3); the launcher exits 0 and every line a rank writes is prefixed.
#   2. BYOL_DIST_MODE=exit3: rank 1 exits with status 3 while rank 0 sleeps outside any collective
#      (10 minutes): the launcher exits with 3, says why, and rank 0 is gone when it returns.
#   3. A bad -n is refused with status 2.
#
#   tests/launch_check.sh <scripts/launch.sh> <byol_tests>
set -u
launcher=$1
tests=$2
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail() {
  echo "launch_check: FAIL: $*" >&2
  exit 1
}

out=$(BYOL_DIST_MODE=hello BYOL_DIST_DIR=$dir "$launcher" -n 2 -- "$tests" "distributed worker" 2>&1)
status=$?
echo "$out"
[ $status -eq 0 ] || fail "hello: the launcher exited with $status"
grep -qx '\[rank 0\] hello from rank 0 of 2, local rank 0, sum 3' <<<"$out" || fail "hello: no line from rank 0"
grep -qx '\[rank 1\] hello from rank 1 of 2, local rank 1, sum 3' <<<"$out" || fail "hello: no line from rank 1"
unprefixed=$(grep -v '^\[rank [01]\] ' <<<"$out")
[ -z "$unprefixed" ] || fail "hello: lines without a rank prefix: $unprefixed"

out=$(BYOL_DIST_MODE=exit3 BYOL_DIST_DIR=$dir BYOL_DIST_TIMEOUT_S=600 \
  "$launcher" -n 2 --grace 2 -- "$tests" "distributed worker" 2>&1)
status=$?
echo "$out"
[ $status -eq 3 ] || fail "exit3: the launcher exited with $status, not rank 1's 3"
grep -q '^launch.sh: rank 1 exited with status 3; stopping the other ranks$' <<<"$out" || fail "exit3: no reason given"
[ -s "$dir/rank0.pid" ] || fail "exit3: rank 0 never started"
pid=$(cat "$dir/rank0.pid")
# A zombie whose parent has not reaped it yet is dead too.
if ps -o stat= -p "$pid" 2>/dev/null | grep -qv '^Z'; then
  kill -KILL "$pid"
  fail "exit3: rank 0 (pid $pid) outlived the launcher"
fi

out=$("$launcher" -n 0 -- true 2>&1)
status=$?
[ $status -eq 2 ] || fail "-n 0: status $status, not 2"
grep -q "launch.sh: -n must be a positive integer, got '0'" <<<"$out" || fail "-n 0: message '$out'"
echo "launch_check: ok"
