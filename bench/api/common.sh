# Shared by bench/api/run.sh and bench/api/compare.sh (sourced, not run).

# Creates the segment "bench" with the host "bench-host" that create.lua notifies about.
# Usage: seed_bench_host URL TOKEN
seed_bench_host() {
  local url=$1 token=$2 seg
  local auth=(-H "X-Auth-Token: $token" -H "Content-Type: application/json")
  seg=$(curl -sf "${auth[@]}" \
    -d '{"segment":{"name":"bench","recovery_method":"auto","service_type":"COMPUTE"}}' \
    "$url/v1/segments" | sed 's/.*"uuid":"\([^"]*\)".*/\1/')
  [ -n "$seg" ] || { echo "cannot create the bench segment at $url" >&2; return 1; }
  curl -sf "${auth[@]}" -d '{"host":{"name":"bench-host","type":"COMPUTE","control_attributes":"SSH"}}' \
    "$url/v1/segments/$seg/hosts" >/dev/null ||
    { echo "cannot create bench-host at $url" >&2; return 1; }
}
