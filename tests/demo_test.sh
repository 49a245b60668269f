#!/usr/bin/env bash
# `make demo`'s script runs end to end: sample data goes in, the tables and the refused
# duplicate come out, and the server stops cleanly.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
dir=$(mktemp -d /tmp/warden-demo-test-XXXXXX)
out=$(WARDEN=${1:-$top/build/warden} WARDEN_DEMO_ONCE=1 WARDEN_DEMO_PORT=0 WARDEN_DEMO_DIR="$dir/d" \
  "$top/scripts/demo" 2>&1)
rc=$?
passed=0 failed=0
check() {
  if echo "$out" | grep -q -- "$1"; then passed=$((passed + 1)); else
    failed=$((failed + 1)); echo "FAIL: demo output lacks: $1"; fi
}
[ $rc -eq 0 ] && passed=$((passed + 1)) || { failed=$((failed + 1)); echo "FAIL: demo exited $rc"; }
check "| 2  | .* | rack-b | reserved_host"
check "compute5 | COMPUTE | true"
check "COMPUTE_HOST | new"
check "PROCESS      | new"
check "is duplicate"
check "openstack segment list"
[ $failed -eq 0 ] || echo "$out"
rm -rf "$dir"
echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
