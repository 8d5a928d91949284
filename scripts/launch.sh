#!/usr/bin/env bash
# Starts N copies of a program as the ranks of one data-parallel job on this machine, the way
# torchrun --standalone does (Debian's torchrun does not run here: docs/distributed.md).
#
#   scripts/launch.sh -n N [--port P] [--grace S] -- program [args...]
#
# Each copy gets RANK (0..N-1), WORLD_SIZE=N, LOCAL_RANK=RANK, LOCAL_WORLD_SIZE=N,
# MASTER_ADDR=127.0.0.1 (or $MASTER_ADDR) and MASTER_PORT (--port, else $MASTER_PORT, else a free
# port), and OMP_NUM_THREADS (kept if set, else cores / N, at least 1). Rank 0 serves the store
# (byol::distributed::init_process_group). Every line a rank writes, to stdout or stderr, goes to
# stdout prefixed with "[rank R] ".
#
# When a rank exits with a non-zero status (or is killed by a signal), the others are sent SIGTERM,
# then SIGKILL after --grace seconds (default 5), and the launcher exits with that rank's status
# (128 + signal for a signal). When all exit with 0, so does the launcher. SIGINT or SIGTERM to the
# launcher stops every rank the same way.
set -uo pipefail

usage() {
  echo "usage: scripts/launch.sh -n N [--port P] [--grace S] -- program [args...]" >&2
  exit 2
}

n=""
port=${MASTER_PORT:-}
grace=5
while [ $# -gt 0 ]; do
  case $1 in
    -n | --nproc) [ $# -ge 2 ] || usage; n=$2; shift 2 ;;
    --port) [ $# -ge 2 ] || usage; port=$2; shift 2 ;;
    --grace) [ $# -ge 2 ] || usage; grace=$2; shift 2 ;;
    --) shift; break ;;
    *) usage ;;
  esac
done
[ $# -ge 1 ] || usage
case $n in '' | *[!0-9]* | 0*) echo "launch.sh: -n must be a positive integer, got '$n'" >&2; exit 2 ;; esac
case $grace in '' | *[!0-9]*) echo "launch.sh: --grace must be a number of seconds, got '$grace'" >&2; exit 2 ;; esac

free_port() {
  # The kernel's pick, through python3 when there is one; else a random port nothing answers on.
  if command -v python3 >/dev/null 2>&1; then
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
    return
  fi
  local p
  for _ in $(seq 100); do
    p=$((20000 + RANDOM % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"
      return
    fi
  done
  echo "launch.sh: found no free port; pass --port" >&2
  exit 2
}
if [ -z "$port" ]; then
  port=$(free_port) || exit 2
fi
case $port in '' | *[!0-9]*) echo "launch.sh: the port must be a number, got '$port'" >&2; exit 2 ;; esac

threads=${OMP_NUM_THREADS:-$(($(nproc) / n))}
[ "$threads" -ge 1 ] 2>/dev/null || threads=1

# Each rank runs in a session (and process group) of its own, made by setsid, with the sed that
# prefixes its lines: stopping a rank stops whatever it started. setsid execs in place (a
# background child of a shell without job control leads no group), so $! is the group's id.
declare -A rank_of=()
pids=()
for ((r = 0; r < n; r++)); do
  RANK=$r WORLD_SIZE=$n LOCAL_RANK=$r LOCAL_WORLD_SIZE=$n MASTER_ADDR=${MASTER_ADDR:-127.0.0.1} \
    MASTER_PORT=$port OMP_NUM_THREADS=$threads \
    setsid bash -c '"$@" 2>&1 | sed -u "s/^/[rank $0] /"; exit "${PIPESTATUS[0]}"' "$r" "$@" &
  pids+=("$!")
  rank_of[$!]=$r
done

# True while a process of a rank's group is alive (a zombie that waits for its parent is not).
alive_ranks() {
  ps -e -o pgid=,stat= | awk -v groups=" ${pids[*]} " \
    'index(groups, " " $1 " ") && $2 !~ /^Z/ { found = 1 } END { exit !found }'
}

stop_all() {
  local pid
  for pid in "${pids[@]}"; do
    kill -TERM -- "-$pid" 2>/dev/null
  done
  local deadline=$((SECONDS + grace))
  while [ $SECONDS -lt $deadline ]; do
    alive_ranks || return
    sleep 0.1
  done
  for pid in "${pids[@]}"; do
    kill -KILL -- "-$pid" 2>/dev/null
  done
}
trap 'echo "launch.sh: interrupted; stopping every rank" >&2; stop_all; wait; exit 130' INT TERM

running=("${pids[@]}")
while [ ${#running[@]} -gt 0 ]; do
  finished=""
  wait -n -p finished "${running[@]}"
  status=$?
  [ -n "$finished" ] || continue
  still=()
  for pid in "${running[@]}"; do
    [ "$pid" = "$finished" ] || still+=("$pid")
  done
  running=("${still[@]}")
  if [ $status -ne 0 ]; then
    echo "launch.sh: rank ${rank_of[$finished]} exited with status $status; stopping the other ranks" >&2
    stop_all
    wait 2>/dev/null
    exit $status
  fi
done
exit 0
