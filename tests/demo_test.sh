#!/usr/bin/env bash
# `make demo`'s main job runs end to end: a host of the simulated cloud fails, the recovery is
# shown live, every protected instance ends up running elsewhere, and the demo exits 0.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
dir=$(mktemp -d /tmp/warden-demo-test-XXXXXX)
out=$(WARDEN=${1:-$top/build/warden} WARDEN_DEMO_ONCE=1 WARDEN_DEMO_PORT=0 WARDEN_DEMO_DIR="$dir/d" \
  timeout 300 "$top/scripts/demo" 2>&1)
rc=$?
passed=0 failed=0
check() {
  if echo "$out" | grep -q -- "$1"; then passed=$((passed + 1)); else
    failed=$((failed + 1)); echo "FAIL: demo output lacks: $1"; fi
}
[ $rc -eq 0 ] && passed=$((passed + 1)) || { failed=$((failed + 1)); echo "FAIL: demo exited $rc"; }
check "compute1 loses power with 9 instances"
check "phase: FenceHostTask\|phase: DisableComputeServiceTask\|phase: PrepareHAEnabledInstancesTask\|phase: EvacuateInstancesTask"
check "moves: \[####################\] 9/9  succeeded 9  failed 0"
check "| compute1 → compute"
check "recovered on attempt 2"
check "status: finished"
check "40 of 40 HA-enabled instances run on a healthy host; split brains: 0"
check "demo: every protected instance recovered"
grep -q "recovery ended" "$dir/d/warden.log" && passed=$((passed + 1)) ||
  { failed=$((failed + 1)); echo "FAIL: the server log lacks the engine's lines"; }
[ $failed -eq 0 ] || echo "$out"
rm -rf "$dir"
echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
