#!/usr/bin/env bash
# bench/api/compare.sh: durable creates of two or more warden binaries, side by side.
#
#   bench/api/compare.sh [-d SECONDS=8] [-r ROUNDS=3] [-n RUNS_PER_SERVER=1] BINARY...
#
# The machines are shared and noisy, so binaries are compared in alternation: each round
# starts a fresh server (new database) per binary, in turn, and runs `wrk -t2 -c16` with
# POST /v1/notifications RUNS_PER_SERVER times in a row against it (more than one run
# shows how a binary holds up as the table grows). Per run it prints accepted creates (202)
# per second of wrk's measured time, p99, any other answers, the server's CPU per request
# (user + system, from /proc) and the store's transactions per commit (from /metrics).
# Binaries are shown as #N and their file name, N their place on the command line. A BINARY
# may be a wrapper script that sets WARDEN_* variables before it execs warden, to compare
# settings of one build.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/common.sh"
duration=8 rounds=3 runs=1
while getopts "d:r:n:" opt; do
  case $opt in
    d) duration=$OPTARG ;;
    r) rounds=$OPTARG ;;
    n) runs=$OPTARG ;;
    *) echo "usage: $0 [-d SECONDS] [-r ROUNDS] [-n RUNS_PER_SERVER] BINARY..." >&2; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
[ $# -ge 1 ] || { echo "usage: $0 [-d SECONDS] [-r ROUNDS] [-n RUNS_PER_SERVER] BINARY..." >&2; exit 2; }
command -v wrk >/dev/null || { echo "wrk is missing: run scripts/install-deps all" >&2; exit 1; }
for b in "$@"; do [ -x "$b" ] || { echo "not an executable: $b" >&2; exit 1; }; done

work=$(mktemp -d /tmp/warden-compare-XXXXXX)
server_pid=""
# Stops the server: TERM, then KILL if it has not gone within 10 s.
stop_server() {
  [ -n "$server_pid" ] || return 0
  kill "$server_pid" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  server_pid=""
}
cleanup() {
  stop_server
  rm -rf "$work"
}
trap cleanup EXIT

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
metric() { awk -v m="$1" '$1 == m {printf "%d", $2}'; }

echo "# bench/api/compare  $(date -u +%Y-%m-%dT%H:%MZ)  $(nproc) cores  wrk -t2 -c16 -d${duration}s, $rounds rounds, $runs run(s) per server"
printf '%-28s %5s %3s %9s %8s %7s %12s %10s\n' binary round run 202/s p99_ms other cpu_us/req tx/commit
for round in $(seq "$rounds"); do
  index=0
  for binary in "$@"; do
    index=$((index + 1))
    dir="$work/run"
    rm -rf "$dir" && mkdir -p "$dir"
    token=$("$binary" token create --name bench --file "$dir/tokens" | awk '/^token:/{print $2}')
    printf '[api]\nlisten = 127.0.0.1:0\ntoken_file = %s\n[database]\nconnection = sqlite:///%s\n' \
      "$dir/tokens" "$dir/warden.db" > "$dir/warden.conf"
    "$binary" server --config "$dir/warden.conf" --port-file "$dir/port" 2> "$dir/server.log" &
    server_pid=$!
    for _ in $(seq 100); do [ -s "$dir/port" ] && break; sleep 0.05; done
    [ -s "$dir/port" ] || { echo "server did not start: $(tail -3 "$dir/server.log")" >&2; exit 1; }
    url="http://127.0.0.1:$(cat "$dir/port")"
    auth=(-H "X-Auth-Token: $token")
    seed_bench_host "$url" "$token"
    for run in $(seq "$runs"); do
      m0=$(curl -sf "${auth[@]}" "$url/metrics")
      c0=$(ticks "$server_pid")
      out=$(wrk -t2 -c16 -d"${duration}s" -s "$here/create.lua" "$url" -- "$token" bench-host "$run" |
        grep '^RESULT') || { echo "wrk failed against $binary (server log: $(tail -2 "$dir/server.log"))" >&2; exit 1; }
      c1=$(ticks "$server_pid")
      m1=$(curl -sf "${auth[@]}" "$url/metrics")
      reqs=$(echo "$out" | sed -n 's/.*"requests":\([0-9]*\).*/\1/p')
      secs=$(echo "$out" | sed -n 's/.*"seconds":\([0-9.]*\).*/\1/p')
      accepted=$(echo "$out" | sed -n 's/.*"202":\([0-9]*\).*/\1/p')
      accepted=${accepted:-0}
      p99=$(echo "$out" | sed -n 's/.*"p99_ms":\([0-9.]*\).*/\1/p')
      txs=$(( $(echo "$m1" | metric warden_store_transactions_total) - $(echo "$m0" | metric warden_store_transactions_total) ))
      commits=$(( $(echo "$m1" | metric warden_store_commits_total) - $(echo "$m0" | metric warden_store_commits_total) ))
      hz=$(getconf CLK_TCK)
      cpu="-" per_commit="-"
      [ "${reqs:-0}" -gt 0 ] && cpu=$(printf '%.0f' "$(echo "($c1 - $c0) * 1000000 / $hz / $reqs" | bc -l)")
      [ "$commits" -gt 0 ] && per_commit=$(printf '%.1f' "$(echo "$txs / $commits" | bc -l)")
      printf '%-28s %5d %3d %9.0f %8s %7d %12s %10s\n' "#$index $(basename "$binary")" "$round" "$run" \
        "$(echo "$accepted / $secs" | bc -l)" "$p99" "$((reqs - accepted))" "$cpu" "$per_commit"
    done
    stop_server""
  done
done
