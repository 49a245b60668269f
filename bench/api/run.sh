#!/usr/bin/env bash
# bench/api: Warden's API under wrk on loopback, 16 connections.
#
#   bench/api/run.sh [DURATION_SECONDS=15] [REPEATS=3]
#
# For each repeat: POST /v1/notifications (distinct instance UUIDs, durable commits), then
# GET /v1/notifications?limit=50. Prints requests/s, p50/p99 latency, server RSS after the
# runs, and checks that every accepted (202) notification is stored and none is lost.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/common.sh"
top=$(cd "$here/../.." && pwd)
warden=${WARDEN:-$top/build/warden}
duration=${1:-15}
repeats=${2:-3}
command -v wrk >/dev/null || { echo "wrk is missing: run scripts/install-deps all" >&2; exit 1; }
[ -x "$warden" ] || { echo "build first: make build" >&2; exit 1; }

work=$(mktemp -d /tmp/warden-bench-XXXXXX)
server_pid=""
server2_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null
  [ -n "$server2_pid" ] && kill "$server2_pid" 2>/dev/null
  wait 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

token=$("$warden" token create --name bench --file "$work/tokens" | awk '/^token:/{print $2}')
cat > "$work/warden.conf" <<CONF
[api]
listen = 127.0.0.1:0
token_file = $work/tokens
[database]
connection = sqlite:///$work/warden.db
CONF
"$warden" server --config "$work/warden.conf" --port-file "$work/port" 2> "$work/server.log" &
server_pid=$!
for _ in $(seq 100); do [ -s "$work/port" ] && break; sleep 0.05; done
port=$(cat "$work/port")
url="http://127.0.0.1:$port"
# A second server on the same database with the GET response cache off: the list figure
# without the cache, side by side.
WARDEN_API_RESPONSE_CACHE_ENTRIES=0 "$warden" server --config "$work/warden.conf" \
  --port-file "$work/port2" 2> "$work/server2.log" &
server2_pid=$!
for _ in $(seq 100); do [ -s "$work/port2" ] && break; sleep 0.05; done
url2="http://127.0.0.1:$(cat "$work/port2")"
seed_bench_host "$url" "$token"

field() { sed -n "s/.*\"$1\":\([0-9.]*\).*/\1/p"; }
accepted_total=0
echo "# bench/api  $(date -u +%Y-%m-%dT%H:%MZ)  $(nproc) cores  $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "# wrk -t2 -c16 -d${duration}s, $repeats repeats; warden $("$warden" --version 2>/dev/null || true)"
printf '%-8s %-6s %10s %9s %9s %9s %s\n' scenario run req/s p50_ms p99_ms max_ms notes
for run in $(seq "$repeats"); do
  out=$(wrk -t2 -c16 -d"${duration}s" -s "$here/create.lua" "$url" -- "$token" bench-host "$run" | grep '^RESULT')
  reqs=$(echo "$out" | field requests); secs=$(echo "$out" | field seconds)
  ok=$(echo "$out" | sed -n 's/.*"202":\([0-9]*\).*/\1/p'); ok=${ok:-0}
  accepted_total=$((accepted_total + ok))
  printf '%-8s %-6s %10.0f %9s %9s %9s %s\n' create "$run" "$(echo "$reqs / $secs" | bc -l)" \
    "$(echo "$out" | field p50_ms)" "$(echo "$out" | field p99_ms)" "$(echo "$out" | field max_ms)" \
    "statuses=$(echo "$out" | sed 's/.*"statuses":\({[^}]*}\).*/\1/')"
  out=$(wrk -t2 -c16 -d"${duration}s" -s "$here/list.lua" "$url" -- "$token" | grep '^RESULT')
  reqs=$(echo "$out" | field requests); secs=$(echo "$out" | field seconds)
  printf '%-8s %-6s %10.0f %9s %9s %9s %s\n' list "$run" "$(echo "$reqs / $secs" | bc -l)" \
    "$(echo "$out" | field p50_ms)" "$(echo "$out" | field p99_ms)" "$(echo "$out" | field max_ms)" \
    "non2xx=$(echo "$out" | field non2xx) errors=$(echo "$out" | field errors)"
  out=$(wrk -t2 -c16 -d"${duration}s" -s "$here/list.lua" "$url2" -- "$token" | grep '^RESULT')
  reqs=$(echo "$out" | field requests); secs=$(echo "$out" | field seconds)
  printf '%-8s %-6s %10.0f %9s %9s %9s %s\n' list-nc "$run" "$(echo "$reqs / $secs" | bc -l)" \
    "$(echo "$out" | field p50_ms)" "$(echo "$out" | field p99_ms)" "$(echo "$out" | field max_ms)" \
    "cache off; non2xx=$(echo "$out" | field non2xx) errors=$(echo "$out" | field errors)"
done
rss_kb=$(awk '/VmRSS/{print $2}' /proc/$server_pid/status)
metrics=$(curl -sf -H "X-Auth-Token: $token" "$url/metrics")
stored=$(echo "$metrics" | awk '/^warden_notifications\{status="new"\}/{printf "%d", $2}')
commits=$(echo "$metrics" | awk '/^warden_store_commits_total/{printf "%d", $2}')
txs=$(echo "$metrics" | awk '/^warden_store_transactions_total/{printf "%d", $2}')
rss2_kb=$(awk '/VmRSS/{print $2}' /proc/$server2_pid/status)
echo "server RSS after all runs: $((rss_kb / 1024)) MiB ($rss_kb kB); cache-off server: $((rss2_kb / 1024)) MiB"
echo "group commit: $txs write transactions in $commits commits ($(echo "scale=1; $txs / $commits" | bc) per fsync)"
# wrk stops with up to 16 requests in flight: those are stored but their 202 is never counted.
echo "accepted (202 counted by wrk): $accepted_total   stored (status new): $stored"
if [ "$stored" -ge "$accepted_total" ] && [ $((stored - accepted_total)) -le $((16 * repeats)) ]; then
  echo "every accepted notification is stored; none lost, none stuck half-written"
else
  echo "MISMATCH: accepted $accepted_total, stored $stored" >&2
  exit 1
fi
