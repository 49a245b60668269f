#!/usr/bin/env bash
# The recovery figures of docs/benchmarks.md: the planner (20,000 instances over 1,000 hosts)
# and the engine on the simulated cloud (25 × 40 = 1,000 instances in a segment of 100 hosts).
#   bench/recovery/run.sh [repeats]
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
repeats=${1:-5}
cmake --build "$top/build" --target planner_bench recovery_bench > /dev/null
echo "== $(date -u +%Y-%m-%dT%H:%MZ) on $(nproc) CPUs: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
"$top/build/src/engine/planner_bench" "$repeats"
"$top/build/src/engine/recovery_bench" "$repeats"
