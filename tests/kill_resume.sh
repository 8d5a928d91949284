#!/usr/bin/env bash
# kill -9 and resume: fashion_mnist killed with SIGKILL after a checkpoint was written, twice, at
# two moments, and resumed with --resume each time (the last time with its newest checkpoint
# damaged, so from checkpoint.pt.prev), ends in the same state, bit for bit (its "state
# digest"), as the same run uninterrupted, with the same metrics.csv. Then a metrics.csv that is
# not the run's must stop --resume with exit 1 and a message naming it.
#
#   tests/kill_resume.sh <fashion_mnist> <scratch folder>
#
# The CTest entry examples.fashion_mnist_kill_resume runs it. Without Fashion-MNIST (the Debian
# package dataset-fashion-mnist) it prints "byol-test-skipped" and CTest reports it as skipped.
set -euo pipefail
[ $# -eq 2 ] || { sed -n '2,11p' "$0" >&2; exit 2; }
exe=$1
work=$2
if [ ! -e /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
  echo "Fashion-MNIST is not installed (dataset-fashion-mnist): byol-test-skipped"
  exit 0
fi
rm -rf "$work"
mkdir -p "$work"
# 768 images in batches of 128 for 4 epochs: 24 steps, a checkpoint every 2.
common=(--limit-train 768 --epochs 4 --batch-size 128 --threads 1 --workers 1 --knn-every 0 --no-eval
        --checkpoint-every 2 --width 8 --hidden-dim 64 --projection-dim 32)
digest_of() { sed -n 's/^state digest \([0-9a-f]*\)$/\1/p' "$1" | tail -n 1; }

"$exe" "${common[@]}" --out "$work/straight" >"$work/straight.log" 2>&1 ||
  { cat "$work/straight.log"; echo "the uninterrupted run failed"; exit 1; }
straight=$(digest_of "$work/straight.log")
[ -n "$straight" ] || { cat "$work/straight.log"; echo "no state digest"; exit 1; }

run=$work/killed
checkpoint=$run/checkpoint.pt
# Kill k: start (or resume) the run, wait until it has written a checkpoint of its own (newer
# than its start), wait `delay` seconds more, then SIGKILL it, wherever it is: inside a step, a
# save, or writing metrics.csv.
kill_after_checkpoint() {
  local k=$1 delay=$2
  shift 2
  local marker=$work/start.$k log=$work/killed.$k.log
  touch "$marker"
  sleep 0.01  # the checkpoint's mtime must be strictly newer than the marker's
  "$exe" "${common[@]}" --out "$run" "$@" >"$log" 2>&1 &
  local pid=$!
  until [ -e "$checkpoint" ] && [ "$checkpoint" -nt "$marker" ]; do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.01
  done
  sleep "$delay"
  kill -KILL "$pid" 2>/dev/null || true
  local rc=0
  { wait "$pid"; } 2>/dev/null || rc=$?  # without bash's "Killed" notice
  if [ "$rc" -ne 137 ]; then
    cat "$log"
    echo "kill $k: the run ended with exit $rc before SIGKILL reached it (expected 137)"
    exit 1
  fi
  echo "kill $k: SIGKILL $delay s after a new checkpoint; $(grep -o 'resumed from .*' "$log" || echo 'fresh start')"
}
kill_after_checkpoint 1 0.05
kill_after_checkpoint 2 0.3 --resume
# Then the newest checkpoint is damaged as well (4 bytes in its middle overwritten): the last
# resume must refuse it by its checksum, fall back to checkpoint.pt.prev, and still end equal.
cp "$checkpoint" "$work/undamaged.pt"
size=$(stat -c %s "$checkpoint")
printf 'XXXX' | dd of="$checkpoint" bs=1 seek=$((size / 2)) conv=notrunc status=none
if cmp -s "$checkpoint" "$work/undamaged.pt"; then
  echo "damaging the checkpoint changed nothing"
  exit 1
fi
"$exe" "${common[@]}" --out "$run" --resume >"$work/resumed.log" 2>&1 ||
  { cat "$work/resumed.log"; echo "the final resumed run failed"; exit 1; }
grep -o 'resumed from .*' "$work/resumed.log"
if ! grep -q "checksum does not match.*previous checkpoint" "$work/resumed.log"; then
  cat "$work/resumed.log"
  echo "the damaged checkpoint.pt was not refused for its checksum, or no fallback to checkpoint.pt.prev was reported"
  exit 1
fi
resumed=$(digest_of "$work/resumed.log")
echo "uninterrupted: $straight; killed twice, newest checkpoint damaged, resumed: $resumed"
if [ "$resumed" != "$straight" ]; then
  cat "$work/resumed.log"
  echo "the resumed run ends in another state than the uninterrupted one"
  exit 1
fi

# metrics.csv, appended to by four processes, has the uninterrupted run's rows, none twice (the
# online probe's column aside: its running accuracy restarts with each process).
if ! cmp -s <(cut -d, -f1-6,8 "$work/straight/metrics.csv") <(cut -d, -f1-6,8 "$run/metrics.csv"); then
  diff <(cut -d, -f1-6,8 "$work/straight/metrics.csv") <(cut -d, -f1-6,8 "$run/metrics.csv") | head -20
  echo "the resumed run's metrics.csv differs from the uninterrupted run's"
  exit 1
fi
echo "metrics.csv: $(($(wc -l <"$run/metrics.csv") - 1)) rows, as the uninterrupted run's"

# A metrics.csv shorter than the checkpoint recorded (another file) stops --resume with a message
# naming it (exit 1), not an abort.
printf 'step,loss\n12,not-a-number\n' >"$run/metrics.csv"
rc=0
"$exe" "${common[@]}" --out "$run" --resume >"$work/garbled.log" 2>&1 || rc=$?
if [ "$rc" -ne 1 ] || ! grep -q "metrics.csv" "$work/garbled.log"; then
  cat "$work/garbled.log"
  echo "--resume with a foreign metrics.csv: exit $rc (expected 1, with a message naming metrics.csv)"
  exit 1
fi
echo "foreign metrics.csv: exit 1, $(grep -m 1 -o 'error.*' "$work/garbled.log" || true)"
