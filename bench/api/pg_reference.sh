#!/usr/bin/env bash
# bench/api/pg_reference.sh: what PostgreSQL itself does on this machine with the create
# benchmark's shape, for scale — no HTTP, no Warden.
#
#   bench/api/pg_reference.sh [DURATION_SECONDS=10] [REPEATS=2]
#
# Starts a throwaway PostgreSQL (Debian's postgresql package) on a Unix socket in a temporary
# directory, creates a table with the columns and indexes of Warden's notifications, and runs
# pgbench with 16 clients inserting one row per transaction: durable (synchronous_commit on,
# fsync on, the defaults) and, for comparison, with synchronous_commit off. Prints
# transactions per second and mean latency for each.
set -euo pipefail
duration=${1:-10}
repeats=${2:-2}
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -n "$bin" ] && [ -x "$bin/postgres" ] && [ -x "$bin/pgbench" ] ||
  { echo "PostgreSQL's server is missing: run scripts/install-deps all" >&2; exit 1; }
# PostgreSQL refuses to run as root: as root, the cluster belongs to the postgres user.
run_as=()
[ "$(id -u)" -ne 0 ] || run_as=(runuser -u postgres --)

work=$(mktemp -d /tmp/warden-pgref-XXXXXX)
chmod 777 "$work"
cleanup() {
  "${run_as[@]}" "$bin/pg_ctl" -D "$work/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

"${run_as[@]}" "$bin/initdb" -D "$work/data" -A trust -U bench >/dev/null
"${run_as[@]}" "$bin/pg_ctl" -D "$work/data" -l "$work/log" -w \
  -o "-k $work -c listen_addresses= -c port=5432" start >/dev/null
db=(-h "$work" -p 5432 -U bench)
"$bin/psql" "${db[@]}" -q -d postgres <<'SQL'
CREATE TABLE notifications (
  id bigserial PRIMARY KEY,
  notification_uuid text NOT NULL,
  generated_time bigint NOT NULL,
  source_host_uuid text NOT NULL,
  failover_segment_uuid text NOT NULL,
  type text NOT NULL,
  payload text NOT NULL,
  payload_hash bigint NOT NULL,
  status text NOT NULL,
  recovery_workflow_details text NOT NULL DEFAULT '[]',
  created_at bigint NOT NULL,
  deleted integer NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX ON notifications (notification_uuid);
CREATE INDEX ON notifications (status);
CREATE INDEX ON notifications (failover_segment_uuid, status);
CREATE INDEX ON notifications (created_at, id);
CREATE INDEX ON notifications (source_host_uuid, type, generated_time);
SQL
cat > "$work/insert.sql" <<'SQL'
\set n random(1, 1000000000)
INSERT INTO notifications (notification_uuid, generated_time, source_host_uuid,
  failover_segment_uuid, type, payload, payload_hash, status, created_at)
VALUES (gen_random_uuid()::text, 1795000000000000, 'a3c5e9b2-0f6d-4b8e-9a51-3f2d7c6b1e84',
  '5d2f8a71-c4b9-4e06-8f3a-92b1d7e0c6a5', 'VM',
  '{"event":"LIFECYCLE","instance_uuid":"' || :n || '","vir_domain_event":"STOPPED_FAILED"}',
  :n, 'new', (extract(epoch from clock_timestamp()) * 1000000)::bigint);
SQL

echo "# bench/api/pg_reference  $(date -u +%Y-%m-%dT%H:%MZ)  $(nproc) cores  $("$bin/postgres" --version)"
echo "# pgbench -c16 -j2 -T$duration, one INSERT per transaction, $repeats repeats"
printf '%-22s %4s %10s %12s\n' commit run tps latency_ms
for run in $(seq "$repeats"); do
  for mode in on off; do
    out=$(PGOPTIONS="-c synchronous_commit=$mode" "$bin/pgbench" "${db[@]}" -n -c 16 -j 2 \
      -T "$duration" -f "$work/insert.sql" postgres 2>&1)
    tps=$(echo "$out" | sed -n 's/^tps = \([0-9.]*\).*/\1/p')
    lat=$(echo "$out" | sed -n 's/^latency average = \([0-9.]*\).*/\1/p')
    [ -n "$tps" ] || { echo "pgbench failed: $out" >&2; exit 1; }
    label="synchronous_commit=$mode"
    printf '%-22s %4d %10.0f %12s\n' "$label" "$run" "$tps" "$lat"
  done
done
